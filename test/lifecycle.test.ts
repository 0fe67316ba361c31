/**
 * The sign-in loop on its own: a scripted sign-in stands in for MSAL and the provider, a fake clock for
 * time, so joins, retry-now, the decline pause, backoff and the slow error retry are checked in
 * milliseconds rather than by whole-process runs that wait on real timers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Attempt, DeviceCode, Tokens } from '../src/auth/auth.js';
import type { SignInMode } from '../src/config.js';
import { DEFAULT_TIMINGS, Lifecycle, NOT_SIGNED_IN } from '../src/lifecycle.js';
import { createLogger } from '../src/log.js';
import { Machine } from '../src/state.js';
import type { AgentEvent, Snapshot } from '../src/state.js';
import { FakeClock } from './helpers/fake-clock.js';

/** One call into the scripted sign-in, waiting for the test to end it. */
interface Call {
  readonly kind: 'silent' | 'deviceCode';
  readonly force?: boolean;
  readonly signal?: AbortSignal;
  readonly onCode?: (code: DeviceCode) => void;
  end(result: Attempt): void;
}

/** MSAL and the provider, as the lifecycle sees them: every call waits until the test answers it. */
class ScriptedAuth {
  readonly calls: Call[] = [];
  cached: { account?: { username: string; name?: string } } | undefined;
  signOuts = 0;

  silent(force: boolean): Promise<Attempt> {
    return new Promise((end) => this.calls.push({ kind: 'silent', force, end }));
  }

  deviceCode(onCode: (code: DeviceCode) => void, signal: AbortSignal): Promise<Attempt> {
    return new Promise((end) => {
      this.calls.push({ kind: 'deviceCode', signal, onCode, end });
      // As MSAL's polling stops between polls when cancelled.
      signal.addEventListener('abort', () => end({ kind: 'cancelled' }), { once: true });
    });
  }

  async signOut(): Promise<void> {
    this.signOuts += 1;
    this.cached = undefined;
  }

  async cachedAccount(): Promise<{ account?: { username: string; name?: string } } | undefined> {
    return this.cached;
  }

  cacheFault(): undefined {
    return undefined;
  }

  replaceLockedCache(): void {}

  /** The calls of one kind so far. */
  of(kind: Call['kind']): Call[] {
    return this.calls.filter((c) => c.kind === kind);
  }

  last(kind: Call['kind']): Call {
    const call = this.of(kind).at(-1);
    assert.ok(call, `a ${kind} call`);
    return call;
  }
}

const tokens = (clock: FakeClock, name = 'Ada'): Tokens => ({
  account: { username: 'ada@example.test', name },
  claims: { name },
  expiresAt: clock.now() + 3_600_000,
});

const code = (clock: FakeClock, userCode = 'ABCD-EFGH'): DeviceCode => ({
  userCode,
  verificationUri: 'https://login.example.test/device',
  expiresAt: clock.now() + 900_000,
  message: '',
});

/** Lets the promise chains the last step started run to their next wait. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

function setup(signIn: SignInMode = 'auto') {
  const clock = new FakeClock();
  const machine = new Machine(clock);
  const auth = new ScriptedAuth();
  const states: Snapshot[] = [];
  const events: AgentEvent[] = [];
  machine.on('state', (s) => states.push(s));
  machine.on('event', (e) => events.push(e));
  const plans: number[] = [];
  const schedule = { plan: (expiresAt: number) => (plans.push(expiresAt), expiresAt - 300_000), clear: () => undefined };
  // Jitter drawn at its top: each delay is the full doubling step.
  const lifecycle = new Lifecycle({ machine, auth, schedule, clock, log: createLogger('silent'), timings: DEFAULT_TIMINGS, signIn, random: () => 1 });
  return { clock, machine, auth, states, events, plans, lifecycle, names: () => events.map((e) => e.event) };
}

test('first boot: a code, then signed in with the planned refresh; declined shows for the pause, then a fresh code', async () => {
  const { clock, machine, auth, lifecycle, names } = setup();
  lifecycle.start();
  await settle();
  auth.last('deviceCode').onCode!(code(clock));
  assert.equal(machine.snapshot.state, 'awaiting_sign_in');
  assert.equal(machine.snapshot.userCode, 'ABCD-EFGH');
  auth.last('deviceCode').end({ kind: 'declined' });
  await settle();
  assert.match(String(machine.snapshot.detail), /declined; a new code follows/);
  clock.advance(DEFAULT_TIMINGS.declinePauseMs - 1);
  await settle();
  assert.equal(auth.of('deviceCode').length, 1, 'no new code before the pause is over');
  clock.advance(1);
  await settle();
  assert.equal(auth.of('deviceCode').length, 2, 'a fresh code after the pause');
  auth.last('deviceCode').onCode!(code(clock, 'WXYZ-2345'));
  auth.last('deviceCode').end({ kind: 'ok', tokens: tokens(clock) });
  await settle();
  assert.equal(machine.snapshot.state, 'signed_in');
  assert.equal(machine.snapshot.nextRefreshAt, clock.now() + 3_600_000 - 300_000);
  assert.deepEqual(names(), ['code_issued', 'sign_in_failed', 'code_issued', 'sign_in_succeeded']);
  lifecycle.stop();
});

test('network failures back off 1 s, 2 s, 4 s, each attempt only when its wait is over; an expired code is replaced at once', async () => {
  const { clock, machine, auth, lifecycle } = setup();
  lifecycle.start();
  await settle();
  for (const [n, delay] of [1_000, 2_000, 4_000].entries()) {
    auth.last('deviceCode').end({ kind: 'network', code: 'provider_unreachable' });
    await settle();
    assert.equal(machine.snapshot.state, 'offline');
    assert.equal(machine.snapshot.retryAt, clock.now() + delay, `wait ${n + 1}`);
    clock.advance(delay - 1);
    await settle();
    assert.equal(auth.of('deviceCode').length, n + 1, 'not before the wait is over');
    clock.advance(1);
    await settle();
    assert.equal(auth.of('deviceCode').length, n + 2);
  }
  auth.last('deviceCode').end({ kind: 'expired' });
  await settle();
  assert.equal(auth.of('deviceCode').length, 5, 'an expired code: a fresh one at once, no wait');
  lifecycle.stop();
});

test('an administrator fault waits the slow retry; restart_sign_in tries at once, and the cancelled wait asks for no second code', async () => {
  const { clock, machine, auth, lifecycle } = setup();
  lifecycle.start();
  await settle();
  auth.last('deviceCode').end({ kind: 'fatal', fault: { code: 'AADSTS53003', message: 'blocked' } });
  await settle();
  assert.equal(machine.snapshot.state, 'error');
  assert.equal(machine.snapshot.retryAt, clock.now() + DEFAULT_TIMINGS.errorRetryMs);
  clock.advance(DEFAULT_TIMINGS.errorRetryMs - 1);
  await settle();
  assert.equal(auth.of('deviceCode').length, 1, 'no code during the retry window');
  lifecycle.restartSignIn();
  await settle();
  assert.equal(auth.of('deviceCode').length, 2, 'one new attempt at once');
  clock.advance(DEFAULT_TIMINGS.errorRetryMs);
  await settle();
  assert.equal(auth.of('deviceCode').length, 2, 'the old wait, cancelled, started nothing');
  lifecycle.stop();
});

test('a refresh already running is joined; a refresh during a backoff tries at once; the token still valid keeps signed_in', async () => {
  const { clock, machine, auth, lifecycle, names } = setup();
  auth.cached = { account: { username: 'ada@example.test', name: 'Ada' } };
  lifecycle.start();
  await settle();
  assert.equal(machine.snapshot.state, 'restoring');
  auth.last('silent').end({ kind: 'ok', tokens: tokens(clock) });
  await settle();
  assert.equal(machine.snapshot.state, 'signed_in');

  const first = lifecycle.refresh();
  const second = lifecycle.refresh();
  await settle();
  assert.equal(auth.of('silent').length, 2, 'one refresh call for two callers');
  auth.last('silent').end({ kind: 'network', code: 'http_503' });
  assert.deepEqual(await Promise.all([first, second]), ['network', 'network']);
  await settle();
  assert.equal(machine.snapshot.state, 'signed_in', 'the access token is still valid');
  assert.equal(machine.snapshot.retryAt, clock.now() + 1_000);

  const now = lifecycle.refresh();
  await settle();
  assert.equal(auth.of('silent').length, 3, 'an operator refresh cuts the backoff short');
  auth.last('silent').end({ kind: 'ok', tokens: tokens(clock, 'Ada L.') });
  assert.equal(await now, 'ok');
  await settle();
  assert.equal(machine.snapshot.account?.name, 'Ada L.');
  assert.deepEqual(names(), ['sign_in_succeeded', 'refresh_failed', 'refresh_succeeded']);
  lifecycle.stop();
});

test('a refresh token refused: signed out with the provider\'s reason, then a fresh code', async () => {
  const { clock, machine, auth, lifecycle, events } = setup();
  auth.cached = { account: { username: 'ada@example.test' } };
  lifecycle.start();
  await settle();
  auth.last('silent').end({ kind: 'ok', tokens: tokens(clock) });
  await settle();
  void lifecycle.refresh();
  await settle();
  auth.last('silent').end({ kind: 'interaction_required', code: 'AADSTS700082' });
  await settle();
  assert.equal(auth.signOuts, 1);
  assert.equal(machine.claims, undefined, 'claims cleared');
  assert.deepEqual(events.find((e) => e.event === 'signed_out')?.reason, 'AADSTS700082');
  assert.equal(auth.of('deviceCode').length, 1, 'a fresh code');
  lifecycle.stop();
});

test('KIOSK_SIGN_IN=on_request: no code until asked; an expired or declined code goes back to "Not signed in"', async () => {
  const { clock, machine, auth, lifecycle } = setup('on_request');
  lifecycle.start();
  await settle();
  assert.deepEqual([machine.snapshot.state, machine.snapshot.detail], ['awaiting_sign_in', NOT_SIGNED_IN]);
  clock.advance(3_600_000);
  await settle();
  assert.equal(auth.of('deviceCode').length, 0, 'nobody asked');
  lifecycle.restartSignIn();
  await settle();
  auth.last('deviceCode').end({ kind: 'expired' });
  await settle();
  assert.equal(machine.snapshot.detail, NOT_SIGNED_IN);
  lifecycle.restartSignIn();
  await settle();
  auth.last('deviceCode').end({ kind: 'declined' });
  await settle();
  clock.advance(DEFAULT_TIMINGS.declinePauseMs);
  await settle();
  assert.equal(machine.snapshot.detail, NOT_SIGNED_IN);
  assert.equal(auth.of('deviceCode').length, 2);
  lifecycle.stop();
});

test('a scheduled refresh runs only when signed in and never cuts a running refresh\'s backoff short; an operator\'s does', async () => {
  const { clock, machine, auth, lifecycle } = setup();
  lifecycle.start();
  await settle();
  assert.equal(lifecycle.scheduledRefresh(), false, 'nobody signed in: nothing to refresh');
  auth.last('deviceCode').onCode!(code(clock));
  auth.last('deviceCode').end({ kind: 'ok', tokens: tokens(clock) });
  await settle();
  assert.equal(lifecycle.scheduledRefresh(), true);
  await settle();
  auth.last('silent').end({ kind: 'network', code: 'provider_unreachable' });
  await settle();
  assert.equal(machine.snapshot.retryAt, clock.now() + 1_000);
  assert.equal(lifecycle.scheduledRefresh(), false, 'a cron tick during the backoff');
  await settle();
  assert.equal(auth.of('silent').length, 1, 'the backoff runs its course');
  clock.advance(1_000);
  await settle();
  assert.equal(auth.of('silent').length, 2, 'the retry after its wait');
  auth.last('silent').end({ kind: 'network', code: 'provider_unreachable' });
  await settle();
  void lifecycle.refresh();
  await settle();
  assert.equal(auth.of('silent').length, 3, 'an operator refresh tries at once');
  lifecycle.stop();
});
