import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeferredLog } from '../src/deferred-log.js';
import { createLogger } from '../src/log.js';

type Line = Record<string, unknown> & { level: string; time: string; msg: string };

/** A deferred log over real pino writing to an array, on a clock the test moves. */
function setup(level = 'info') {
  const lines: Line[] = [];
  let clock = Date.parse('2026-12-03T08:00:00.000Z');
  let loads = 0;
  const deferred = new DeferredLog(
    level,
    async (now) => {
      loads++;
      return createLogger(level, { write: (s: string) => void lines.push(JSON.parse(s) as Line) }, now);
    },
    () => clock,
  );
  return { deferred, lines, tick: (ms: number) => (clock += ms), loads: () => loads };
}

test('entries made before pino loads are written on load, in order, with their own times, levels and bindings', async () => {
  const { deferred, lines, tick } = setup();
  const root = deferred.log;
  const kiosk = root.child({ device_id: 'k1' });
  root.warn('a warning from the configuration');
  tick(5);
  kiosk.info({ state: 'starting' }, 'state');
  tick(7);
  kiosk.child({ module: 'lifecycle' }).error({ err: new Error('boom') }, 'sign-in task failed');
  assert.equal(lines.length, 0, 'nothing is written before pino loads');
  assert.equal(deferred.loaded, false);

  tick(100);
  await deferred.load();
  assert.equal(deferred.loaded, true);
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg, l.time, l.device_id, l.module]),
    [
      ['warn', 'a warning from the configuration', '2026-12-03T08:00:00.000Z', undefined, undefined],
      ['info', 'state', '2026-12-03T08:00:00.005Z', 'k1', undefined],
      ['error', 'sign-in task failed', '2026-12-03T08:00:00.012Z', 'k1', 'lifecycle'],
    ],
  );
  assert.equal(lines[1]?.state, 'starting');
  const err = lines[2]?.err as { message?: string; type?: string; stack?: string };
  assert.equal(err.message, 'boom');
  assert.equal(err.type, 'Error');
  assert.match(err.stack ?? '', /deferred-log\.test/);
  assert.equal(typeof lines[0]?.pid, 'number');
});

test('after the load every call is written at once, stamped with the time of the call', async () => {
  const { deferred, lines, tick } = setup();
  const early = deferred.log.child({ device_id: 'k1' });
  await deferred.load();
  tick(42);
  early.info('after');
  deferred.log.child({ module: 'later' }).warn('made after');
  assert.deepEqual(lines.map((l) => [l.msg, l.time, l.device_id, l.module]), [
    ['after', '2026-12-03T08:00:00.042Z', 'k1', undefined],
    ['made after', '2026-12-03T08:00:00.042Z', undefined, 'later'],
  ]);
});

test('held entries are redacted by pino like any other', async () => {
  const { deferred, lines } = setup();
  deferred.log.info({ accessToken: 'AT-SECRET', nested: { refresh_token: 'RT-SECRET' } }, 'tokens');
  await deferred.load();
  const text = JSON.stringify(lines);
  assert.doesNotMatch(text, /AT-SECRET|RT-SECRET/);
  assert.equal(lines[0]?.accessToken, '[redacted]');
});

test('entries below the level are dropped, not held; level checks answer alike before and after the load', async () => {
  const { deferred, lines } = setup('warn');
  const log = deferred.log.child({ module: 'msal' });
  const before = ['debug', 'info', 'warn', 'error'].map((l) => log.isLevelEnabled(l));
  log.debug('dropped');
  log.info('dropped too');
  log.warn('kept');
  await deferred.load();
  const after = ['debug', 'info', 'warn', 'error'].map((l) => log.isLevelEnabled(l));
  assert.deepEqual(before, [false, false, true, true]);
  assert.deepEqual(after, before);
  assert.deepEqual(lines.map((l) => l.msg), ['kept']);
});

test('silent holds nothing', async () => {
  const { deferred, lines } = setup('silent');
  deferred.log.fatal('not even this');
  assert.equal(deferred.log.isLevelEnabled('fatal'), false);
  await deferred.load();
  assert.deepEqual(lines, []);
});

test('written: after the held entries are out (loading pino if need be), at once once loaded; pino loads once', async () => {
  const { deferred, lines, loads } = setup();
  deferred.log.fatal('unexpected failure');
  const seen: number[] = [];
  await new Promise<void>((resolve) => deferred.written(() => resolve(void seen.push(lines.length))));
  assert.deepEqual(seen, [1], 'the held fatal entry was written before the callback ran');
  let ranAtOnce = false;
  deferred.written(() => (ranAtOnce = true));
  assert.equal(ranAtOnce, true);
  await Promise.all([deferred.load(), deferred.load()]);
  assert.equal(loads(), 1);
});
