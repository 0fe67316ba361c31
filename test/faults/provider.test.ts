import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Kiosk } from '../helpers/kiosk.js';
import { command, startKiosk } from '../helpers/kiosk.js';
import { eventually } from '../helpers/wait.js';
import { eachRound, record, rounds, SEED, seededRandom } from './report.js';
import { allDisplays, Screens } from './screens.js';

const ROOT = 'kiosk/test-kiosk';
/** Codes found drawn on the framebuffer copies: proof that the framebuffer scan reads text at all. */
let codesSeenOnFramebuffer = 0;
const INTERVAL_S = 1;

/** The retained state, and whether a retry is still pending in it (a round ends only once none is). */
const retainedState = (k: Kiosk): { state?: string; retrying: boolean } => {
  const last = k.mqtt.last(`${ROOT}/state`);
  const payload = last?.text ? (JSON.parse(last.text) as { state: string; retry_at?: string }) : undefined;
  return { state: payload?.state, retrying: payload?.retry_at !== undefined };
};

/** Approves every code the provider shows until the agent is signed in again. */
async function signInAgain(k: Kiosk, screens: Screens): Promise<void> {
  await eventually(
    async () => {
      if (k.agent.states().at(-1) === 'signed_in') return true;
      const pending = await k.idp.pending();
      const code = pending.at(-1);
      if (code && k.agent.states().at(-1) === 'awaiting_sign_in') {
        await screens.capture('awaiting_sign_in');
        if (screens.lastFrameShows(code.user_code)) codesSeenOnFramebuffer += 1;
        await k.idp.approve(code.user_code).catch(() => undefined); // it may have just expired
      }
      return false;
    },
    60_000,
    'signed in again',
    200,
  );
}

/** A sign-out, so the next fault lands on the device-code flow. */
async function toAwaiting(k: Kiosk): Promise<void> {
  const before = k.agent.states().filter((s) => s === 'awaiting_sign_in').length;
  assert.equal((await command(k, 'sign_out')).status, 'ok');
  await k.agent.waitForState('awaiting_sign_in', 20_000, before);
}

type Fault = (k: Kiosk, screens: Screens) => Promise<void>;

/** Each fault, and what the agent must do about it; every one ends signed in. */
const FAULTS: Record<string, Fault> = {
  async 'refresh: 500s'(k) {
    await k.idp.faults({ fail_next: 2, fail_status: 503, fail_endpoints: ['token'] });
    assert.equal((await command(k, 'refresh')).status, 'error', 'a failed refresh is reported');
    assert.equal(k.agent.states().at(-1), 'signed_in', 'a provider failure keeps signed_in');
  },
  async 'refresh: timeout'(k) {
    await k.idp.faults({ hang_next: 1, hang_endpoints: ['token'] });
    await command(k, 'refresh');
    assert.equal(k.agent.states().at(-1), 'signed_in');
  },
  async 'refresh: dropped connection'(k) {
    await k.idp.faults({ drop_next: 1, drop_endpoints: ['token'] });
    await command(k, 'refresh');
    assert.equal(k.agent.states().at(-1), 'signed_in');
  },
  async 'refresh: invalid_grant'(k, screens) {
    await k.idp.faults({ invalid_grant_next: 1 });
    const codes = k.agent.states().filter((s) => s === 'awaiting_sign_in').length;
    assert.equal((await command(k, 'refresh')).status, 'error');
    // The answer comes with the failed attempt; the new code follows it.
    await k.agent.waitForState('awaiting_sign_in', 20_000, codes);
    await signInAgain(k, screens);
  },
  async 'refresh: refresh tokens revoked'(k, screens) {
    await k.idp.faults({ revoke_refresh_tokens: true });
    const codes = k.agent.states().filter((s) => s === 'awaiting_sign_in').length;
    await command(k, 'refresh');
    await k.agent.waitForState('awaiting_sign_in', 20_000, codes);
    await signInAgain(k, screens);
  },
  async 'refresh: three at once'(k) {
    const grants = async () => (await k.idp.requests()).filter((r) => r.grant_type === 'refresh_token').length;
    const before = await grants();
    const results = await Promise.all([command(k, 'refresh'), command(k, 'refresh'), command(k, 'refresh')]);
    assert.deepEqual(results.map((r) => r.status), ['ok', 'ok', 'ok']);
    assert.equal((await grants()) - before, 1, 'three refresh requests, one refresh at the provider');
  },
  async 'sign-in: device code 500s'(k, screens) {
    await k.idp.faults({ fail_next: 2, fail_status: 500, fail_endpoints: ['devicecode'] });
    await toAwaiting(k).catch(() => undefined); // the first code may come only after the retries
    await signInAgain(k, screens);
  },
  async 'sign-in: polls time out'(k, screens) {
    await toAwaiting(k);
    await k.idp.faults({ hang_next: 1, hang_endpoints: ['token'] });
    await signInAgain(k, screens);
  },
  async 'sign-in: polls dropped'(k, screens) {
    await toAwaiting(k);
    await k.idp.faults({ drop_next: 2, drop_endpoints: ['token'] });
    await signInAgain(k, screens);
  },
  async 'sign-in: slow_down'(k, screens) {
    await toAwaiting(k);
    await k.idp.faults({ slow_down_next: 1 });
    await delay(1_500);
    await signInAgain(k, screens);
  },
  async 'sign-in: code expires'(k, screens) {
    await k.idp.faults({ device_code_expires_in: 2 });
    await toAwaiting(k);
    const expired = () => k.agent.logs().filter((l) => l.event === 'code_expired').length;
    const before = expired();
    await eventually(() => expired() > before, 15_000, 'the code to expire and be replaced');
    await k.idp.faults({ device_code_expires_in: 900 });
    await k.agent.waitForLog((l) => l.event === 'code_issued' && k.agent.logs().indexOf(l) > k.agent.logs().length - 20, 15_000, 'a fresh code');
    await signInAgain(k, screens);
  },
  async 'sign-in: declined'(k, screens) {
    await toAwaiting(k);
    const [code] = await k.idp.waitForPending();
    await k.idp.decline(code!.user_code);
    await k.idp.waitForPending((c) => c.user_code !== code!.user_code, 20_000);
    await signInAgain(k, screens);
  },
  async 'sign-in: provider down'(k, screens) {
    await toAwaiting(k);
    await k.idp.stop();
    try {
      await k.agent.waitForLog((l) => l.msg === 'state' && l.state === 'offline' && k.agent.states().at(-1) === 'offline', 20_000, 'offline');
    } finally {
      await k.idp.start();
    }
    await signInAgain(k, screens);
  },
};

test('identity provider faults in random order, while signing in and while signed in: each ends signed in, nothing leaked', async (t) => {
  const count = rounds(60, 13);
  const random = seededRandom(SEED);
  t.diagnostic(`seed ${SEED} (FAULTS_SEED replays this order)`);
  const fbDir = await mkdtemp(join(tmpdir(), 'kiosk-faults-fb-'));
  t.after(() => rm(fbDir, { recursive: true, force: true }));
  const k = await startKiosk(t, {
    idp: { deviceCodeInterval: INTERVAL_S },
    // Refreshes come from commands; reused refresh tokens are refused, so two refreshes in flight would show.
    env: { ...allDisplays(fbDir), KIOSK_REFRESH_CRON: '0 0 1 1 *' },
    before: (idp) => idp.faults({ reject_reused_refresh_tokens: true, enforce_interval: true }),
  });
  const screens = new Screens(k.agent, join(fbDir, 'fb.raw'));
  await screens.start();
  t.after(() => screens.stop());
  await k.agent.waitForState('awaiting_sign_in');
  await signInAgain(k, screens);

  // Every fault once, in a random order, then random picks: each kind is covered even in the quick run.
  const names = Object.keys(FAULTS).sort(() => random() - 0.5);
  while (names.length < count) names.push(Object.keys(FAULTS)[Math.floor(random() * Object.keys(FAULTS).length)]!);
  const done: string[] = [];
  const result = await eachRound(count, async (i) => {
    const name = names[i]!;
    done.push(name);
    try {
      await FAULTS[name]!(k, screens);
    } finally {
      await k.idp.start();
      await k.idp.clearFaults();
    }
    await k.idp.faults({ reject_reused_refresh_tokens: true, enforce_interval: true });
    await signInAgain(k, screens);
    await screens.capture('signed_in');
    await eventually(() => {
      const retained = retainedState(k);
      return retained.state === 'signed_in' && !retained.retrying;
    }, 30_000, `${name}: retained state signed_in, no retry pending (agent's states when the wait began: ${k.agent.states().slice(-4).join(' → ')})`);
    assert.equal(k.agent.child.exitCode, null, `${name}: the agent is still running`);
  });
  for (const e of result.errors) t.diagnostic(e);

  // RFC 8628: no poll for a code came sooner than the interval (plus 5 s after each slow_down).
  const tooSoon: string[] = [];
  const polls = (await k.idp.requests()).filter((r) => r.endpoint === 'token' && r.code_id !== undefined && r.fault === undefined);
  for (const id of new Set(polls.map((p) => p.code_id))) {
    const seen = polls.filter((p) => p.code_id === id);
    let required = INTERVAL_S * 1_000;
    for (let j = 1; j < seen.length; j++) {
      if (seen[j - 1]!.error === 'slow_down') required += 5_000;
      if (seen[j]!.at - seen[j - 1]!.at < required - 50) tooSoon.push(`${id}: ${seen[j]!.at - seen[j - 1]!.at} ms`);
    }
  }

  screens.stop();
  const scan = screens.scan(await k.idp.issued());
  const emitted = await k.scanLeaks(scan.texts);
  const leaks = [...emitted.leaks, ...scan.frameLeaks];
  record({
    scenario: 'identity provider faults, random order',
    rounds: count,
    failures: result.failures + (tooSoon.length > 0 ? 1 : 0),
    bytesScanned: emitted.bytes + scan.frameBytes,
    leaks: leaks.length,
    note: `seed ${SEED}; ${new Set(done).size} fault kinds; ${polls.length} polls checked`,
  });
  assert.deepEqual(result.errors, [], `rounds failed (order: ${done.join(', ')})`);
  assert.deepEqual(tooSoon, [], 'polls sooner than the interval');
  assert.deepEqual(leaks, [], 'tokens in what the agent emitted or showed');
  assert.ok(codesSeenOnFramebuffer > 0, 'the framebuffer copies show the user codes, so the scan reads what is drawn');
});
