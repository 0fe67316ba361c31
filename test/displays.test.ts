import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config.js';
import type { DisplayName } from '../src/config.js';
import { DISPLAY_FACTORIES, startDisplays } from '../src/displays/index.js';
import type { Display, DisplayDeps, DisplayFactories, View } from '../src/displays/index.js';
import { createLogger } from '../src/log.js';
import { Machine } from '../src/state.js';
import { decodeTerminalQr } from './helpers/qr-decode.js';
import { FakeClock } from './helpers/fake-clock.js';

const URI = 'https://microsoft.com/devicelogin';


type LogLine = { level: string; msg: string; display?: string; code?: string; retryInMs?: number };

function setup(env: Record<string, string>, stdout?: NodeJS.WritableStream) {
  const logs: LogLine[] = [];
  const clock = new FakeClock();
  const config = loadConfig({
    env: { KIOSK_CLIENT_ID: 'kiosk-test', KIOSK_AUTHORITY: 'https://login.example.test/tenant/', KIOSK_DEVICE_ID: 'lobby-1', ...env },
  }).config;
  const log = createLogger('debug', { write: (s: string) => void logs.push(JSON.parse(s) as LogLine) });
  const deps: DisplayDeps = { config, log, clock, stdout };
  return { logs, clock, deps, machine: new Machine(clock) };
}

/** A display that records what it is asked to show; `failRenders` makes its first renders throw. */
function recorder(name: DisplayName, options: { failRenders?: number } = {}) {
  const views: View[] = [];
  let starts = 0;
  let failRenders = options.failRenders ?? 0;
  const factory = (): Display => ({
    name,
    start: async () => void (starts += 1),
    render: (view: View) => {
      if (failRenders > 0) {
        failRenders -= 1;
        throw Object.assign(new Error('render broke'), { code: 'EBROKEN' });
      }
      views.push(view);
    },
    stop: async () => undefined,
  });
  return { factory, views, starts: () => starts };
}

async function waitFor(what: string, cond: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const code = { userCode: 'ABCD-EFGH', verificationUri: URI };

test('a missing terminal device is logged and retried with backoff; another display keeps rendering', async () => {
  const { logs, clock, deps, machine } = setup({ KIOSK_DISPLAY: 'terminal,web', KIOSK_TERMINAL: '/nonexistent/dir/tty' });
  const web = recorder('web');
  const factories: DisplayFactories = { ...DISPLAY_FACTORIES, web: web.factory };
  const running = startDisplays(machine, deps, factories);
  const failures = () => logs.filter((l) => l.level === 'warn' && l.display === 'terminal');

  await waitFor('first failure', () => failures().length === 1);
  assert.equal(failures()[0]!.code, 'ENOENT');
  assert.equal(failures()[0]!.retryInMs, 1_000);
  machine.go('awaiting_sign_in', { ...code, expiresAt: clock.now() + 300_000 });
  for (let n = 2; n <= 7; n += 1) {
    clock.advance(30_000);
    await waitFor(`failure ${n}`, () => failures().length === n);
  }
  assert.deepEqual(failures().map((l) => l.retryInMs), [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000], 'capped backoff');

  assert.equal(web.views[0]?.state, 'starting');
  assert.ok(web.views.some((v) => v.state === 'awaiting_sign_in' && v.userCode === 'ABCD-EFGH'));
  assert.ok(web.views.length > 3, 'the countdown kept the web display rendering');
  await running.stop();
});

test('listeners cannot break the machine: a throwing display is retried, the others and machine.go carry on', async () => {
  const { logs, clock, deps, machine } = setup({ KIOSK_DISPLAY: 'terminal,web' });
  const broken = recorder('terminal', { failRenders: 2 });
  const web = recorder('web');
  let listenerErrors = 0;
  machine.on('listenerError', () => (listenerErrors += 1));
  const running = startDisplays(machine, deps, { ...DISPLAY_FACTORIES, terminal: broken.factory, web: web.factory });
  await waitFor('both started', () => broken.starts() === 1 && web.views.length === 1);

  machine.go('awaiting_sign_in', { ...code, expiresAt: clock.now() + 300_000 });
  machine.setClaims({ name: 'Ada' });
  assert.equal(machine.go('signed_in', { account: { username: 'ada@example.com' } }).state, 'signed_in');
  assert.equal(machine.snapshot.state, 'signed_in');
  assert.equal(listenerErrors, 0);
  const failures = () => logs.filter((l) => l.level === 'warn' && l.code === 'EBROKEN').length;
  await waitFor('failure logged', () => failures() === 1);
  await waitFor('web display up to date', () => web.views.at(-1)?.headline === 'Signed in as Ada');

  clock.advance(1_000);
  await waitFor('second failure', () => broken.starts() === 2 && failures() === 2);
  clock.advance(2_000);
  await waitFor('recovered', () => broken.views.length > 0);
  assert.equal(broken.starts(), 3, 'a fresh display per attempt, backoff 1 s then 2 s');
  assert.equal(broken.views.at(-1)?.headline, 'Signed in as Ada', 'the newest view is drawn after recovery');
  await running.stop();
});

test('a display that fails soon after each fresh start backs off further each time; one that stayed up starts again from 1 s', async () => {
  const { logs, clock, deps, machine } = setup({ KIOSK_DISPLAY: 'terminal' });
  let starts = 0;
  // Like a terminal on a closed stdout: the first write of each fresh display goes out, the next one fails.
  const factory = (): Display => {
    let renders = 0;
    return {
      name: 'terminal',
      start: async () => void (starts += 1),
      render: () => {
        renders += 1;
        if (renders > 1) throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
      },
      stop: async () => undefined,
    };
  };
  const running = startDisplays(machine, deps, { ...DISPLAY_FACTORIES, terminal: factory });
  const delays = () => logs.filter((l) => l.level === 'warn' && l.code === 'EPIPE').map((l) => l.retryInMs);
  let n = 0;
  const failOnce = async (): Promise<void> => {
    await waitFor(`start ${starts + 1}`, () => starts === n + 1);
    n += 1;
    machine.go('awaiting_sign_in', { ...code, userCode: `CODE-${n}`, expiresAt: clock.now() + 300_000 });
    await waitFor(`failure ${n}`, () => delays().length === n);
  };
  await failOnce();
  for (const delay of [1_000, 2_000, 4_000]) {
    clock.advance(delay);
    await failOnce();
  }
  assert.deepEqual(delays(), [1_000, 2_000, 4_000, 8_000], 'the backoff grows although each fresh display drew once');
  clock.advance(8_000);
  await waitFor('started again', () => starts === n + 1);
  clock.advance(31_000); // up longer than the longest backoff
  n += 1;
  machine.go('awaiting_sign_in', { ...code, userCode: 'CODE-LATE', expiresAt: clock.now() + 300_000 });
  await waitFor('late failure', () => delays().length === n);
  assert.equal(delays().at(-1), 1_000, 'a display that stayed up starts again from the shortest backoff');
  await running.stop();
});

test('one shared ticker re-renders once a second while a code counts down, and stops after', async () => {
  const { clock, deps, machine } = setup({ KIOSK_DISPLAY: 'terminal,web' });
  const a = recorder('terminal');
  const b = recorder('web');
  const running = startDisplays(machine, deps, { ...DISPLAY_FACTORIES, terminal: a.factory, web: b.factory });
  await waitFor('started', () => a.views.length === 1 && b.views.length === 1);
  assert.equal(clock.timers.size, 0, 'nothing to count down while starting');

  machine.go('awaiting_sign_in', { ...code, expiresAt: clock.now() + 4_500 });
  await waitFor('code shown', () => a.views.length === 2);
  assert.equal(clock.timers.size, 1);
  for (let n = 3; n <= 5; n += 1) {
    clock.advance(1_000);
    await waitFor(`tick ${n}`, () => a.views.length === n && b.views.length === n);
  }
  assert.deepEqual(a.views.slice(1).map((v) => v.secondsLeft), [5, 4, 3, 2]);
  assert.equal(clock.timers.size, 1, 'still one timer');

  clock.advance(2_000);
  await waitFor('expired', () => a.views.at(-1)?.secondsLeft === 0);
  assert.equal(a.views.at(-1)?.userCode, undefined, 'no dead code on screen');
  assert.equal(clock.timers.size, 0, 'ticker stops with the countdown');
  machine.go('awaiting_sign_in', { ...code, expiresAt: clock.now() + 60_000 });
  machine.go('signed_in', {});
  assert.equal(clock.timers.size, 0, 'no ticker while signed in');
  await waitFor('signed in drawn', () => a.views.at(-1)?.state === 'signed_in');
  const drawn = a.views.length;
  clock.advance(10_000);
  await sleep(20);
  assert.equal(a.views.length, drawn);
  await running.stop();
  machine.go('offline', {});
  await sleep(20);
  assert.equal(a.views.length, drawn, 'stopped displays no longer follow the machine');
});

test('end to end on a TTY: the machine state reaches the screen and the QR scans', async () => {
  const chunks: string[] = [];
  const out = Object.assign(
    new Writable({ write: (chunk: Buffer, _e, cb) => void (chunks.push(chunk.toString()), cb()) }),
    { isTTY: true, columns: 80, rows: 24 },
  );
  const { clock, deps, machine } = setup({ KIOSK_DISPLAY: 'terminal' }, out);
  const running = startDisplays(machine, deps, DISPLAY_FACTORIES);
  machine.go('awaiting_sign_in', { ...code, expiresAt: clock.now() + 300_000 });
  await waitFor('frame', () => chunks.some((c) => c.includes('ABCD-EFGH')));
  assert.equal(decodeTerminalQr(chunks.join('')), URI);
  machine.go('stopped');
  await running.stop();
  const text = chunks.join('');
  assert.match(text, /Stopped/);
  assert.ok(text.endsWith('\x1b[0m\x1b[?25h\r\n'), 'cursor shown again on stop');
});

test('KIOSK_TERMINAL=auto (the image\'s default): no terminal on a non-TTY stdout beside a screen of its own; a TTY, or the terminal alone, keeps it', async () => {
  const pipe = (isTTY: boolean) => Object.assign(new Writable({ write: (_c, _e, done) => done() }), { isTTY, columns: 80, rows: 24 });
  const run = async (env: Record<string, string>, isTTY: boolean): Promise<{ started: string[]; logs: LogLine[] }> => {
    const { deps, machine, logs } = setup(env, pipe(isTTY));
    const terminal = recorder('terminal');
    const web = recorder('web');
    const framebuffer = recorder('framebuffer');
    const running = startDisplays(machine, deps, { terminal: terminal.factory, web: web.factory, framebuffer: framebuffer.factory });
    await sleep(20);
    await running.stop();
    const started = [['terminal', terminal], ['web', web], ['framebuffer', framebuffer]].filter(([, r]) => (r as ReturnType<typeof recorder>).starts() > 0).map(([n]) => n as string);
    return { started, logs };
  };
  const leftOut = await run({ KIOSK_DISPLAY: 'terminal,web', KIOSK_TERMINAL: 'auto' }, false);
  assert.deepEqual(leftOut.started, ['web']);
  assert.ok(leftOut.logs.some((l) => /terminal display left out/.test(l.msg)), 'the log says why');
  assert.deepEqual((await run({ KIOSK_DISPLAY: 'terminal,framebuffer', KIOSK_TERMINAL: 'auto', KIOSK_FRAMEBUFFER_GEOMETRY: '800x480x32' }, false)).started, ['framebuffer']);
  assert.deepEqual((await run({ KIOSK_DISPLAY: 'terminal,web', KIOSK_TERMINAL: 'auto' }, true)).started, ['terminal', 'web'], 'a TTY keeps it');
  assert.deepEqual((await run({ KIOSK_DISPLAY: 'terminal', KIOSK_TERMINAL: 'auto' }, false)).started, ['terminal'], 'alone it stays');
  assert.deepEqual((await run({ KIOSK_DISPLAY: 'terminal,web' }, false)).started, ['terminal', 'web'], 'KIOSK_TERMINAL=- always draws on stdout');
});
