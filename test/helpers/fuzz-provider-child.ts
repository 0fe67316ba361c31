/**
 * The end-to-end half of test/fuzz-provider.test.ts, run in its own process so that NODE_EXTRA_CA_CERTS
 * (read by Node only at start) makes MSAL's fetch trust the test CA, as the agent trusts a provider.
 *
 * argv[2]: JSON `{cert, key, dir}` (server certificate and key PEM paths, a scratch dir). Prints one
 * JSON line per property on stdout: `{property, cases, rejections, failed, report?, outcomes}`.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { Auth } from '../../src/auth/auth.js';
import { CacheStore } from '../../src/auth/cache-store.js';
import type { Attempt, DeviceCode } from '../../src/auth/auth.js';
import { systemClock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { loadOrCreateSigningKeys } from '../../src/idp/keys.js';
import { createLogger } from '../../src/log.js';
import { checkProperty, newTally } from './fuzz.js';
import type { Tally } from './fuzz.js';
import { CLIENT_ID, GOOD_DEVICE_CODE, GOOD_TOKENS, deviceCodeReplyArb, startFuzzProvider, tokenReplyArb } from './fuzz-provider.js';

const { cert, key, dir } = JSON.parse(process.argv[2] ?? '{}') as { cert: string; key: string; dir: string };
const HTTP_TIMEOUT_S = 1;
/** Longest a case may take: each scripted request may cost the HTTP timeout, plus MSAL's own work. */
const deadlineMs = (requests: number): number => requests * HTTP_TIMEOUT_S * 1000 + 4_000;
const KINDS = new Set(['ok', 'expired', 'declined', 'cancelled', 'interaction_required', 'network', 'fatal']);
const quiet = createLogger('silent');
const controller = new AbortController();

const provider = await startFuzzProvider({ tls: { cert: await readFile(cert, 'utf8'), key: await readFile(key, 'utf8') }, keys: await loadOrCreateSigningKeys(dir) });
let caseNo = 0;

function newAuth(caseDir: string): Auth {
  const config = loadConfig({
    env: { KIOSK_CLIENT_ID: CLIENT_ID, KIOSK_AUTHORITY: provider.authority, KIOSK_DEVICE_ID: 'k1', KIOSK_CACHE_PATH: join(caseDir, 'token-cache.json'), KIOSK_HTTP_TIMEOUT: String(HTTP_TIMEOUT_S) },
  }).config;
  return new Auth({ config, log: quiet, clock: systemClock, signal: controller.signal });
}

/** Resolves with the attempt, or rejects when it throws or outlives `ms`. */
async function bounded(attempt: Promise<Attempt>, ms: number): Promise<Attempt> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no outcome within ${ms} ms`)), ms)));
  try {
    return await Promise.race([attempt, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** What the agent wrote after a sign-in, it reads back on the next boot (nothing the provider sent poisons the cache). */
async function assertCacheReadable(caseDir: string): Promise<void> {
  const store = new CacheStore({ path: join(caseDir, 'token-cache.json'), log: quiet });
  assert.ok((await store.load()) !== undefined, 'the cache written after a sign-in loads again');
}

function judgeAttempt(a: Attempt, tally: Tally, outcomes: Record<string, number>): void {
  assert.ok(KINDS.has(a.kind), `an Outcome, got ${JSON.stringify(a)}`);
  const label = a.kind === 'fatal' ? `fatal:${a.fault.code}` : a.kind === 'network' || a.kind === 'interaction_required' ? `${a.kind}:${a.code}` : a.kind;
  outcomes[label] = (outcomes[label] ?? 0) + 1;
  if (a.kind === 'ok') {
    assert.equal(typeof a.tokens.account.username, 'string');
    assert.ok(Number.isFinite(a.tokens.expiresAt), `token expiry is a time: ${a.tokens.expiresAt}`);
    return;
  }
  tally.rejections += 1;
  if (a.kind === 'fatal') {
    assert.ok(a.fault.message.trim().length > 0 && !/[\r\n]/.test(a.fault.message), `a one-line fix: ${JSON.stringify(a.fault.message)}`);
    // A TypeError or the like inside the agent's own code is a bug, whatever the provider sent.
    assert.notEqual(a.fault.code, 'unexpected', `an unexpected failure: ${a.fault.message}`);
  }
}

/** What the display is given: a code a person can type, a URL, and an expiry in the future. */
function judgeCode(c: DeviceCode, begun: number): void {
  assert.ok(typeof c.userCode === 'string' && c.userCode.trim() !== '', `a user code to show: ${JSON.stringify(c.userCode)}`);
  assert.ok(typeof c.verificationUri === 'string' && c.verificationUri !== '', `a URL to show: ${JSON.stringify(c.verificationUri)}`);
  assert.ok(Number.isFinite(c.expiresAt) && c.expiresAt > begun && !Number.isNaN(new Date(c.expiresAt).getTime()), `an expiry in the future: ${c.expiresAt}`);
}

async function report(property: string, tally: Tally, outcomes: Record<string, number>, run: () => Promise<void>): Promise<void> {
  let failure: string | undefined;
  const begun = performance.now();
  try {
    await run();
  } catch (e) {
    failure = e instanceof Error ? e.message : String(e);
  }
  process.stdout.write(`${JSON.stringify({ property, cases: tally.cases, rejections: tally.rejections, failed: failure !== undefined, report: failure, outcomes, ms: Math.round(performance.now() - begun) })}\n`);
}

/** Replies that end a flow at once or after one pending poll (no waits of whole intervals). */
const E2E = { faultOdds: 150, fastOnly: true, huge: true } as const;

// 1. Device code flows: the device-code answer and up to two token answers are fuzzed.
{
  const tally = newTally();
  const outcomes: Record<string, number> = {};
  await report('Auth.deviceCode', tally, outcomes, () =>
    checkProperty(
      'auth device code',
      // Half the flows get a good code, so that the polls' answers are what is fuzzed.
      fc.asyncProperty(fc.oneof(fc.constant(GOOD_DEVICE_CODE), deviceCodeReplyArb(E2E)), fc.array(tokenReplyArb(E2E), { minLength: 1, maxLength: 2 }), async (deviceCode, token) => {
        tally.cases += 1;
        const caseDir = join(dir, `dc-${(caseNo += 1)}`);
        await mkdir(caseDir);
        provider.script = { deviceCode, token: [...token] };
        const auth = newAuth(caseDir);
        await auth.start();
        const codes: DeviceCode[] = [];
        const begun = Date.now();
        const attempt = await bounded(auth.deviceCode((c) => codes.push(c), new AbortController().signal), deadlineMs(2 + token.length));
        assert.ok(codes.length <= 1, 'one code per attempt');
        for (const c of codes) judgeCode(c, begun);
        judgeAttempt(attempt, tally, outcomes);
        await auth.flush();
        if (attempt.kind === 'ok') await assertCacheReadable(caseDir);
        await rm(caseDir, { recursive: true, force: true });
      }),
      { seed: 0x64657663, numRuns: 200, tally },
    ),
  );
}

// 2. Silent refresh of a signed-in cache: the token endpoint's answers are fuzzed.
{
  const tally = newTally();
  const outcomes: Record<string, number> = {};
  const seedDir = join(dir, 'signed-in');
  await mkdir(seedDir);
  await report('Auth.silent', tally, outcomes, async () => {
    provider.script = { deviceCode: GOOD_DEVICE_CODE, token: [GOOD_TOKENS] };
    const first = newAuth(seedDir);
    await first.start();
    const signedIn = await first.deviceCode(() => undefined, new AbortController().signal);
    assert.equal(signedIn.kind, 'ok', `the seed sign-in: ${JSON.stringify(signedIn)}`);
    await first.flush();
    await checkProperty(
      'auth silent',
      fc.asyncProperty(fc.array(tokenReplyArb(E2E), { minLength: 1, maxLength: 2 }), async (token) => {
        tally.cases += 1;
        const caseDir = join(dir, `silent-${(caseNo += 1)}`);
        await mkdir(caseDir);
        for (const f of ['token-cache.json', 'provider-metadata.json']) await copyFile(join(seedDir, f), join(caseDir, f));
        provider.script = { token: [...token] };
        const auth = newAuth(caseDir);
        await auth.start();
        const attempt = await bounded(auth.silent(true), deadlineMs(1 + token.length));
        judgeAttempt(attempt, tally, outcomes);
        await auth.flush();
        await assertCacheReadable(caseDir);
        await rm(caseDir, { recursive: true, force: true });
      }),
      { seed: 0x73696c65, numRuns: 120, tally },
    );
  });
}

controller.abort();
await provider.close();
