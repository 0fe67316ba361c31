import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AuthError, InteractionRequiredAuthError, ServerError } from '@azure/msal-node';
import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import { MetadataStore } from '../src/auth/metadata-store.js';
import { ProviderNetworkClient } from '../src/auth/network-client.js';
import { classify } from '../src/auth/provider-errors.js';
import type { Outcome, ProviderFailure } from '../src/auth/provider-errors.js';
import { systemClock } from '../src/clock.js';
import { createLogger } from '../src/log.js';
import { checkProperty, hostileString, newTally, summaryLine } from './helpers/fuzz.js';
import { GOOD_DEVICE_CODE, deviceCodeReplyArb, discoveryReplyArb, startFuzzProvider, tokenReplyArb } from './helpers/fuzz-provider.js';
import type { Reply } from './helpers/fuzz-provider.js';
import { createCa } from './helpers/pki.js';

/**
 * Identity-provider responses under arbitrary input: malformed JSON, missing fields, wrong types,
 * huge bodies, wrong content types, unexpected statuses, hangs and dropped connections.
 *
 * - `classify` maps every error MSAL or the network client can raise, with any wire record, to an Outcome.
 * - `ProviderNetworkClient` (MSAL's HTTP layer) answers MSAL with a response it can use, or throws an
 *   AuthError with the wire record set; a device code it passes on is complete and its times are sane.
 * - End to end, `Auth.deviceCode` and `Auth.silent` over the real MSAL resolve with an Outcome within
 *   the HTTP timeout. Those cases run in a child process (helpers/fuzz-provider-child.ts) started with
 *   NODE_EXTRA_CA_CERTS, the way the agent trusts a provider's CA: MSAL's fetch reads that variable
 *   only at process start, and the agent never turns TLS checks off.
 */

const tally = newTally();
const started = performance.now();
const quiet = createLogger('silent');
const KINDS = new Set(['expired', 'declined', 'cancelled', 'interaction_required', 'network', 'fatal']);

function assertOutcome(o: Outcome): void {
  assert.ok(KINDS.has(o.kind), `an Outcome kind, got ${JSON.stringify(o)}`);
  if (o.kind === 'fatal') {
    assert.equal(typeof o.fault.code, 'string');
    assert.ok(o.fault.message.trim().length > 0, 'a fatal fault says how to fix it');
    assert.ok(!/[\r\n]/.test(o.fault.message), `a fault message is one line: ${JSON.stringify(o.fault.message)}`);
  }
  if (o.kind === 'interaction_required' || o.kind === 'network') assert.equal(typeof o.code, 'string');
  // Infinity is fine: the backoff caps what it honours.
  if (o.kind === 'network' && o.retryAfterMs !== undefined) assert.ok(o.retryAfterMs >= 0, `retry after ${o.retryAfterMs}`);
}

// ---------------------------------------------------------------------------------------------
// classify

const codeArb = fc.oneof(
  fc.constantFrom(
    'device_code_polling_cancelled', 'device_code_expired', 'invalid_grant', 'no_tokens_found', 'interaction_required', 'endpoints_resolution_error',
    'openid_config_error', 'untrusted_authority', 'issuer_validation_failed', 'network_error', 'provider_unreachable', 'post_request_failed',
    'http_503', 'invalid_client', 'AADSTS700016', 'expired_token', 'authorization_declined', 'access_denied', '', 'constructor', '__proto__', 'toString',
  ),
  hostileString(),
);
const errorArb: Arbitrary<unknown> = fc.oneof(
  fc.tuple(codeArb, hostileString(), hostileString()).map(([code, id, message]) => new AuthError(code, id, message)),
  fc.tuple(codeArb, hostileString()).map(([code, message]) => new InteractionRequiredAuthError(code, message)),
  fc.tuple(codeArb, hostileString()).map(([code, message]) => new ServerError(code, message)),
  fc.tuple(codeArb, codeArb).map(([code, message]) => new AuthError(code, '', `${message}: ${code}`)),
  hostileString().map((m) => new Error(m)),
  fc.constantFrom(undefined, null, 'string', 0, {}, { errorCode: 'invalid_grant', errorMessage: 'looks like one' }, new TypeError('x'), Object.create(null) as object),
  // MSAL copies a provider's `error` and `error_description` into its errors as they are.
  fc.tuple(fc.constantFrom<unknown>(0, null, {}, ['x'], true), fc.constantFrom<unknown>(-1, null, {}, ['x'])).map(([code, message]) => new ServerError(code as string, message as string)),
);
/** Wire records as the network client makes them: its own codes, `http_<status>`, or an RFC 6749 error code. */
const wireCodeArb = fc.oneof(
  fc.constantFrom('provider_unreachable', 'invalid_device_code_response', 'invalid_token_response', 'invalid_grant', 'invalid_client', 'expired_token', 'authorization_declined', 'slow_down'),
  fc.integer({ min: 400, max: 599 }).map((n) => `http_${n}`),
  fc.stringMatching(/^[\x20\x21\x23-\x5B\x5D-\x7E]{1,40}$/),
);
const wireArb: Arbitrary<ProviderFailure | undefined> = fc.option(
  fc.record(
    {
      kind: fc.constantFrom<ProviderFailure['kind']>('network', 'unavailable', 'provider'),
      code: wireCodeArb,
      aadsts: fc.oneof(fc.constantFrom('AADSTS700016', 'AADSTS7000218', 'AADSTS90002', 'AADSTS70011'), fc.integer().map((n) => `AADSTS${n}`)),
      description: fc.oneof(fc.constantFrom('SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED', 'ECONNREFUSED', 'no answer within 1 s'), hostileString()),
      status: fc.integer({ min: 100, max: 599 }),
      retryAfterMs: fc.oneof(fc.nat(), fc.constant(0), fc.constant(Number.POSITIVE_INFINITY)),
    },
    { requiredKeys: ['kind', 'code', 'description'] },
  ),
  { nil: undefined },
);

test('classify: every error, with any wire record, maps to one Outcome', { timeout: 60_000 }, async () => {
  await checkProperty(
    'classify',
    fc.property(errorArb, wireArb, (error, wire) => {
      tally.cases += 1;
      const outcome = classify(error, wire);
      assertOutcome(outcome);
      tally.rejections += 1;
    }),
    { seed: 0x636c6173, numRuns: 3_000, tally },
  );
});

// ---------------------------------------------------------------------------------------------
// ProviderNetworkClient over a local server

const dir = await mkdtemp(join(tmpdir(), 'kiosk-fuzz-provider-'));
after(() => rm(dir, { recursive: true, force: true }));
const TIMEOUT_MS = 150;
const FAST = { faultOdds: 60, fastOnly: false, huge: true } as const;

/** The network client's contract for one call: a usable response, or an AuthError with the wire record. */
async function judgeCall<T>(net: ProviderNetworkClient, call: () => Promise<T>, requests: number): Promise<{ ok: T } | { error: AuthError }> {
  tally.cases += 1;
  const begun = performance.now();
  try {
    const ok = await call();
    return { ok };
  } catch (e) {
    assert.ok(e instanceof AuthError, `only AuthError reaches MSAL, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    assert.ok(net.lastFailure !== undefined, `the wire record says why (${e.errorCode})`);
    assert.ok(!/[\r\n]/.test(net.lastFailure.description), 'the wire description is one line');
    assertOutcome(classify(e, net.lastFailure));
    tally.rejections += 1;
    return { error: e };
  } finally {
    const ms = performance.now() - begun;
    assert.ok(ms < requests * TIMEOUT_MS + 2_000, `answered within the HTTP timeout (${ms.toFixed(0)} ms)`);
  }
}

/** A device code handed to MSAL must be complete, and its times must make sense to the agent. */
function assertUsableDeviceCode(body: Record<string, unknown>): void {
  for (const field of ['user_code', 'device_code', 'verification_uri'])
    assert.ok(typeof body[field] === 'string' && body[field] !== '', `${field} is a non-empty string: ${JSON.stringify(body[field])}`);
  const { expires_in: expiresIn, interval } = body;
  assert.ok(typeof expiresIn === 'number' && expiresIn > 0, `expires_in is a positive number: ${JSON.stringify(expiresIn)}`);
  assert.ok(!Number.isNaN(new Date(Date.now() + expiresIn * 1000).getTime()), `expires_in ${expiresIn} gives a real time`);
  assert.ok(typeof interval === 'number' && interval > 0, `interval is a positive number: ${JSON.stringify(interval)}`);
  assert.ok(interval <= expiresIn, `the first poll comes before the code expires (interval ${interval}, expires_in ${expiresIn})`);
}

test('ProviderNetworkClient: any answer from discovery, device code or token endpoints', { timeout: 120_000 }, async () => {
  const provider = await startFuzzProvider();
  after(() => provider.close());
  const controller = new AbortController();
  after(() => controller.abort());
  const metadata = new MetadataStore({ path: join(dir, 'provider-metadata.json'), log: quiet });
  const net = new ProviderNetworkClient({ timeoutMs: TIMEOUT_MS, log: quiet, clock: systemClock, metadata, signal: controller.signal });
  const form = (o: Record<string, string>): { body: string } => ({ body: new URLSearchParams({ client_id: 'c', ...o }).toString() });

  type Case = { kind: 'discovery'; reply: Reply } | { kind: 'device-code'; reply: Reply } | { kind: 'poll'; reply: Reply } | { kind: 'refresh'; reply: Reply };
  const caseArb: Arbitrary<Case> = fc.oneof(
    { weight: 1, arbitrary: discoveryReplyArb(FAST).map((reply): Case => ({ kind: 'discovery', reply })) },
    { weight: 3, arbitrary: deviceCodeReplyArb(FAST).map((reply): Case => ({ kind: 'device-code', reply })) },
    { weight: 3, arbitrary: tokenReplyArb(FAST).map((reply): Case => ({ kind: 'poll', reply })) },
    { weight: 2, arbitrary: tokenReplyArb(FAST).map((reply): Case => ({ kind: 'refresh', reply })) },
  );

  await checkProperty(
    'network client',
    fc.asyncProperty(caseArb, async (c) => {
      const wireBody = c.reply.body;
      if (c.kind === 'discovery') {
        provider.script = { discovery: c.reply, token: [] };
        const r = await judgeCall(net, () => net.sendGetRequestAsync<unknown>(provider.discoveryUrl), 1);
        if ('ok' in r) assert.equal(typeof r.ok.status, 'number');
        return;
      }
      if (c.kind === 'device-code') {
        provider.script = { deviceCode: c.reply, token: [] };
        const r = await judgeCall(net, () => net.sendPostRequestAsync<Record<string, unknown>>(provider.deviceCodeUrl, form({ scope: 'openid' })), 1);
        if ('ok' in r) {
          assert.equal(r.ok.status, 200, 'only a 200 carries a device code');
          assertUsableDeviceCode(r.ok.body);
          net.forgetCode(r.ok.body.device_code as string);
        }
        return;
      }
      let grant: Record<string, string> = { grant_type: 'refresh_token', refresh_token: 'rt' };
      if (c.kind === 'poll') {
        provider.script = { deviceCode: GOOD_DEVICE_CODE, token: [] };
        const dc = await net.sendPostRequestAsync<Record<string, unknown>>(provider.deviceCodeUrl, form({ scope: 'openid' }));
        grant = { grant_type: 'device_code', device_code: dc.body.device_code as string };
      }
      provider.script = { token: [c.reply] };
      const r = await judgeCall(net, () => net.sendPostRequestAsync<unknown>(provider.tokenUrl, form(grant)), 1);
      if (c.kind === 'poll') net.forgetCode(grant.device_code ?? '');
      if ('ok' in r) {
        assert.ok(r.ok.status < 500 && r.ok.status !== 429, 'an unavailable provider is an error, never a response MSAL would throttle on');
        assert.equal(r.ok.status, c.reply.status);
        const body = r.ok.body as { error?: unknown } | null;
        if (c.kind === 'poll' && wireBody.kind === 'error' && wireBody.error === 'slow_down')
          assert.equal(body?.error, 'authorization_pending', 'slow_down is honoured by the client and hidden from MSAL');
      } else if (c.reply.behaviour === 'answer' && (c.reply.status >= 500 || c.reply.status === 429)) {
        assert.equal(net.lastFailure?.kind, 'unavailable');
      }
    }),
    { seed: 0x6e657463, numRuns: 600, tally },
  );
});

// ---------------------------------------------------------------------------------------------
// Auth end to end, in a child process that trusts the test CA through NODE_EXTRA_CA_CERTS

interface ChildResult {
  property: string;
  cases: number;
  rejections: number;
  failed: boolean;
  report?: string;
  outcomes: Record<string, number>;
  ms: number;
}

test('Auth.deviceCode and Auth.silent over the real MSAL: an Outcome for every answer, within the timeout', { timeout: 180_000 }, async (t) => {
  const ca = await createCa(dir, 'fuzz-ca');
  const server = await ca.issue('provider', { names: ['IP:127.0.0.1', 'DNS:localhost'] });
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./helpers/fuzz-provider-child.ts', import.meta.url)), JSON.stringify({ cert: server.cert, key: server.key, dir })], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.ca },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const results = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as ChildResult);
  assert.ok(results.length > 0, `the child reported (exit ${code}):\n${err.slice(-4_000)}`);
  for (const r of results) {
    tally.cases += r.cases;
    tally.rejections += r.rejections;
    t.diagnostic(`${r.property}: ${r.cases} cases in ${(r.ms / 1000).toFixed(1)} s, outcomes ${JSON.stringify(r.outcomes)}`);
    if (r.failed) tally.crashes += 1;
  }
  const failed = results.filter((r) => r.failed);
  assert.equal(failed.length, 0, failed.map((r) => r.report).join('\n\n'));
  assert.equal(code, 0, `child exit code (stderr: ${err.slice(-4_000)})`);
});

test('summary', (t) => {
  const line = summaryLine('provider', tally, performance.now() - started);
  t.diagnostic(line);
  assert.equal(tally.crashes, 0);
});
