import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import type { AgentProcess } from '../helpers/agent.js';
import { startKiosk } from '../helpers/kiosk.js';
import type { Kiosk } from '../helpers/kiosk.js';
import { eventually } from '../helpers/wait.js';
import { eachRound, record, rounds } from './report.js';

const run = promisify(execFile);
/** Debian's multiarch path (package `faketime`), e.g. /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1. */
const LIBFAKETIME = readdirSync('/usr/lib')
  .filter((d) => d.endsWith('-linux-gnu'))
  .map((d) => `/usr/lib/${d}/faketime/libfaketime.so.1`)
  .find((p) => existsSync(p));
const SKIP = LIBFAKETIME === undefined && 'needs libfaketime (apt-get install faketime)';
const TOPIC = 'kiosk/test-kiosk';
const CRON_S = 2;
const HOUR = 3600;
const DAY = 24 * HOUR;
/** Seconds from now to `iso`, as libfaketime reads an offset. */
const offsetTo = (iso: string): number => Math.round((Date.parse(iso) - Date.now()) / 1000);

/**
 * The agent's wall clock is the real one plus the offset in `file`, read on every call
 * (FAKETIME_NO_CACHE), so the test steps it while the agent runs. Monotonic time stays real, as in an
 * NTP step: timers keep their pace, only `Date.now()` jumps. The provider keeps the real time.
 */
const fakeTime = (file: string): Record<string, string> => ({
  LD_PRELOAD: LIBFAKETIME ?? '',
  FAKETIME_TIMESTAMP_FILE: file,
  FAKETIME_NO_CACHE: '1',
  FAKETIME_DONT_FAKE_MONOTONIC: '1',
});

interface ClockKiosk {
  kiosk: Kiosk;
  step(offsetS: number): Promise<void>;
  current(): AgentProcess;
  /** A fresh device-code sign-in on an empty cache, with the real time. */
  signInAfresh(): Promise<void>;
  /**
   * Steps the clock, then waits for two refreshes or for a state that is not `signed_in` (or in
   * `allow`); checks the session held and the provider saw no more refreshes than the schedule asks for.
   */
  hold(offsetS: number, what: string, allow?: string[]): Promise<void>;
  deviceCodes(): Promise<number>;
}

async function clockKiosk(t: TestContext): Promise<ClockKiosk> {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-clock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'offset');
  const step = (s: number): Promise<void> => writeFile(file, `${s >= 0 ? '+' : ''}${s}\n`);
  await step(0);

  // The premise: node under libfaketime follows the file while it runs.
  await step(DAY);
  const ahead = Number((await run(process.execPath, ['-e', 'console.log(Date.now())'], { env: { PATH: process.env.PATH ?? '', ...fakeTime(file) } })).stdout) - Date.now();
  await step(0);
  assert.ok(Math.abs(ahead - DAY * 1000) < 60_000, `Date.now() follows FAKETIME_TIMESTAMP_FILE (${ahead} ms ahead, expected a day)`);

  const kiosk = await startKiosk(t, { env: { ...fakeTime(file), KIOSK_REFRESH_CRON: `*/${CRON_S} * * * * *` } });
  const { idp } = kiosk;
  const current = (): AgentProcess => kiosk.agents.at(-1)!;
  const refreshes = (a: AgentProcess): number => a.logs().filter((l) => l.event === 'refresh_succeeded').length;
  const approveShown = async (a: AgentProcess, since: number): Promise<void> => {
    await a.waitForState('awaiting_sign_in', 20_000);
    const shown = await kiosk.mqtt.waitFor(`${TOPIC}/state`, (m) => m.at >= since && m.text.includes('"user_code"'), 10_000);
    await idp.approve((JSON.parse(shown.text) as { user_code: string }).user_code);
    await a.waitForState('signed_in', 20_000);
  };
  await approveShown(kiosk.agent, 0);

  return {
    kiosk,
    step,
    current,
    deviceCodes: async () => (await idp.requests()).filter((x) => x.endpoint === 'devicecode').length,
    async signInAfresh() {
      await step(0);
      await current().stop('SIGKILL');
      await rm(join(kiosk.agent.dir, 'token-cache.json'), { force: true });
      const since = Date.now();
      await approveShown(await kiosk.reboot(), since);
    },
    async hold(offset, what, allow = []) {
      const a = current();
      const mark = a.states().length;
      const before = refreshes(a);
      const from = Date.now();
      await step(offset);
      const ok = (s: string): boolean => s === 'signed_in' || allow.includes(s);
      await a.waitForLog(() => refreshes(a) >= before + 2 || !a.states().slice(mark).every(ok), 30_000, `two refreshes ${what}`);
      const after = a.states().slice(mark);
      assert.deepEqual(after.filter((s) => !ok(s)), [], `stayed signed in ${what}: ${after.join(' → ')}; ${a.logs().filter((l) => l.level === 'warn').map((l) => l.msg + (l.reason ? ` (${String(l.reason)})` : '')).join('; ')}`);
      const grants = (await idp.requests()).filter((r) => r.endpoint === 'token' && r.grant_type === 'refresh_token' && r.at >= from);
      const allowed = Math.ceil((Date.now() - from) / 1000 / CRON_S) + 2;
      assert.ok(grants.length <= allowed, `${grants.length} refresh grants in ${Date.now() - from} ms ${what}: a refresh storm`);
    },
  };
}

/** The end of every round: signed in on MQTT too, still the same process, no code shown. */
async function assertSettled(c: ClockKiosk, agent: AgentProcess, codesBefore: number): Promise<void> {
  assert.equal(await c.deviceCodes(), codesBefore, 'no new device code was requested');
  assert.equal(agent.child.exitCode, null, 'the agent is running');
  await eventually(() => (JSON.parse(c.kiosk.mqtt.last(`${TOPIC}/state`)?.text ?? '{}') as { state?: string }).state === 'signed_in', 5_000, 'signed_in on MQTT');
}

test('wall-clock steps within the ID-token tolerance: signed in throughout, the schedule keeps its pace', { skip: SKIP, timeout: 10 * 60_000 }, async (t) => {
  const c = await clockKiosk(t);
  const steps: Array<[string, number]> = [
    ['back 100 s', -100],
    ['forward 100 s', 100],
  ];
  const total = rounds(4, 2);
  const { failures, errors } = await eachRound(total, async (i) => {
    if (c.current().states().at(-1) !== 'signed_in') await c.signInAfresh();
    const codes = await c.deviceCodes();
    // node-cron's own runner slept until the wall clock caught up after a step back: no scheduled refresh for that long.
    const [name, offset] = steps[i % steps.length]!;
    await c.hold(offset, `after a step ${name}`);
    await c.hold(0, `after the step back to the real time (${name})`);
    await assertSettled(c, c.current(), codes);
  });
  const scan = await c.kiosk.scanLeaks();
  record({ scenario: 'wall-clock steps of 100 s', rounds: total, failures, bytesScanned: scan.bytes, leaks: scan.leaks.length });
  assert.equal(failures, 0, errors.join('\n'));
  assert.deepEqual(scan.leaks, []);
});

/**
 * Steps larger than the ID-token clock tolerance (120 s), against a provider on the real time, and boots
 * before NTP: a refreshed ID token is judged by the provider's clock (its Date header), a cached one that
 * looks expired or not yet valid is refreshed, and a certificate "not yet valid" is a wait, not an error.
 */
test('wall-clock steps of hours and days, boots before NTP: signed in throughout', { skip: SKIP, timeout: 10 * 60_000 }, async (t) => {
  const c = await clockKiosk(t);
  const kinds = ['forward 2 h, past access-token expiry', 'boot in 2000 with a cached sign-in, then NTP', 'back 1 h', 'back 1 day', 'first boot in 2000, then NTP'] as const;
  const offsets: Partial<Record<(typeof kinds)[number], number>> = { 'forward 2 h, past access-token expiry': 2 * HOUR, 'back 1 h': -HOUR, 'back 1 day': -DAY };
  const total = rounds(kinds.length, 2);
  const { failures, errors } = await eachRound(total, async (i) => {
    if (c.current().states().at(-1) !== 'signed_in') await c.signInAfresh();
    const codes = await c.deviceCodes();
    const kind = kinds[i % kinds.length]!;
    const offset = offsets[kind];
    if (offset !== undefined) {
      await c.hold(offset, `after a step ${kind}`);
      await c.hold(0, `after the step back to the real time (${kind})`);
      return assertSettled(c, c.current(), codes);
    }
    const fresh = kind.startsWith('first');
    await c.current().stop('SIGTERM');
    if (fresh) await rm(join(c.kiosk.agent.dir, 'token-cache.json'), { force: true });
    await c.step(offsetTo('2000-01-01T00:00:00Z'));
    const since = Date.now();
    const agent = await c.kiosk.reboot();
    // Before NTP: waiting for the network (the provider's certificate is not valid yet), or signed in from the cache.
    const first = await agent.waitForLog((l) => l.msg === 'state' && l.state !== 'restoring', 20_000, 'a state after boot');
    const error = (first.error as { code?: string; message?: string } | undefined) ?? {};
    assert.ok(['offline', fresh ? 'offline' : 'signed_in'].includes(String(first.state)), `before NTP: ${agent.states().join(' → ')} (${error.code}: ${error.message})`);
    if (!fresh) {
      await c.hold(0, `after NTP (${kind})`, ['offline']);
      return assertSettled(c, agent, codes);
    }
    await c.step(0);
    await agent.waitForState('awaiting_sign_in', 30_000);
    const shown = await c.kiosk.mqtt.waitFor(`${TOPIC}/state`, (m) => m.at >= since && m.text.includes('"user_code"'), 10_000);
    await c.kiosk.idp.approve((JSON.parse(shown.text) as { user_code: string }).user_code);
    await agent.waitForState('signed_in', 20_000);
    await c.hold(0, `after the first sign-in (${kind})`);
    return assertSettled(c, agent, codes + 1);
  });
  const scan = await c.kiosk.scanLeaks();
  record({ scenario: 'wall-clock steps of hours and days, boots before NTP', rounds: total, failures, bytesScanned: scan.bytes, leaks: scan.leaks.length, note: kinds.join('; ') });
  assert.equal(failures, 0, errors.join('\n'));
  assert.deepEqual(scan.leaks, []);
});
