import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectAsync } from 'mqtt';
import { systemClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { MqttPublisher } from '../src/mqtt/publisher.js';
import { watchFleet, watchSettings } from '../src/mqtt/watch.js';
import { Machine } from '../src/state.js';
import { startBroker } from './helpers/broker.js';
import type { Broker } from './helpers/broker.js';

const ROOT = new URL('..', import.meta.url).pathname;
const ops = { refresh: async () => 'ok', signOut: async () => undefined, restartSignIn: () => undefined };

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  return { stream: new Writable({ write: (c: Buffer, _e, cb) => ((text += c.toString()), cb()) }), text: () => text };
}

async function fleet(t: { after(fn: () => unknown): void }, broker: Broker, ids: string[]) {
  return Promise.all(ids.map(async (id) => {
    const config = loadConfig({ env: { KIOSK_CLIENT_ID: 'c', KIOSK_AUTHORITY: 'https://login.example.test/t/', KIOSK_DEVICE_ID: id, KIOSK_MQTT_URL: broker.url } }).config;
    const machine = new Machine(systemClock);
    const publisher = new MqttPublisher({ config, machine, operations: ops, log: createLogger('silent'), version: 't' });
    t.after(() => publisher.stop());
    await publisher.start();
    return { id, machine, publisher };
  }));
}

type Line = { device: string; changed: string; availability: string | null; state: { state?: string; user_code?: string } | null; received_at: string };

test('watch --json against three kiosks: one line per change, stopping and clearing included', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.dispose());
  const kiosks = await fleet(t, broker, ['k-a', 'k-b', 'k-c']);
  const out = sink();
  const stop = new AbortController();
  let subscribed!: () => void;
  const ready = new Promise<void>((r) => (subscribed = r));
  const watching = watchFleet({ mqtt: watchSettings({}, { url: broker.url }), json: true, out: out.stream, signal: stop.signal, onSubscribed: () => subscribed() });
  await ready;
  kiosks.forEach((k, i) => k.machine.go('awaiting_sign_in', { userCode: `CODE-${i}`, expiresAt: Date.now() + 60_000 }));
  kiosks[1]?.machine.go('signed_in', { account: { username: 'b@example.test' } });
  const lines = (): Line[] => out.text().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
  const until = async (ok: (l: Line[]) => boolean): Promise<void> => {
    for (let i = 0; i < 100 && !ok(lines()); i += 1) await sleep(30);
    assert.ok(ok(lines()), out.text());
  };
  await until((l) => ['k-a', 'k-c'].every((d) => l.some((x) => x.device === d && x.state?.user_code?.startsWith('CODE-'))) && l.some((x) => x.device === 'k-b' && x.state?.state === 'signed_in'));
  assert.ok(lines().every((l) => ['k-a', 'k-b', 'k-c'].includes(l.device) && /Z$/.test(l.received_at)));
  const count = lines().length;
  await kiosks[2]?.publisher.stop();
  await until((l) => l.some((x) => x.device === 'k-c' && x.changed === 'availability' && x.availability === 'offline'));
  const sysop = await connectAsync(broker.url);
  await sysop.publishAsync('kiosk/k-a/state', '', { retain: true, qos: 1 });
  await sysop.endAsync();
  await until((l) => l.some((x) => x.device === 'k-a' && x.changed === 'state' && x.state === null));
  assert.ok(lines().length <= count + 4, 'repeats are not printed again');
  stop.abort();
  await watching;
});

test('the table shows one row per kiosk with state, user, code and time left; hostile text is neutralised', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.dispose());
  const [a, b] = await fleet(t, broker, ['lobby-a', 'lobby-b']);
  a?.machine.go('awaiting_sign_in', { userCode: 'QWER-TYUI', expiresAt: Date.now() + 125_000 });
  b?.machine.go('awaiting_sign_in', { userCode: 'X' });
  b?.machine.go('signed_in', { account: { username: 'bob@example.test', name: 'Bob \u001b[2J' }, tokenExpiresAt: Date.now() + 3_600_000 });
  await broker.waitFor('kiosk/lobby-b/state', (m) => m.text.includes('signed_in'));
  const out = sink();
  const stop = new AbortController();
  const watching = watchFleet({ mqtt: watchSettings({ KIOSK_MQTT_URL: broker.url }), json: false, tty: false, out: out.stream, signal: stop.signal });
  for (let i = 0; i < 100 && !out.text().includes('Bob'); i += 1) await sleep(30);
  stop.abort();
  await watching;
  const table = out.text().split('\n\n').filter((s) => s.includes('DEVICE')).at(-1) ?? '';
  const rows = table.split('\n');
  assert.match(rows[0] ?? '', /^DEVICE\s+AVAILABILITY\s+STATE\s+USER\s+CODE\s+LEFT\s+LAST CHANGE$/);
  assert.match(rows.find((r) => r.startsWith('lobby-a')) ?? '', /^lobby-a\s+online\s+awaiting_sign_in\s+-\s+QWER-TYUI\s+2:0\d\s+0:0\d ago$/);
  assert.match(rows.find((r) => r.startsWith('lobby-b')) ?? '', /^lobby-b\s+online\s+signed_in\s+Bob \?\[2J\s+-\s+(59:5\d|1h00m)\s+0:0\d ago$/);
  assert.ok(!out.text().includes('\u001b'), 'no escape sequence reaches the terminal');
});

test('kiosk-agent watch ends cleanly on SIGINT', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.dispose());
  await fleet(t, broker, ['sig-1']);
  const code = `
    import { runWatch, watchSettings } from '${ROOT}src/mqtt/watch.ts';
    await runWatch({ mqtt: watchSettings(process.env), json: true, out: process.stdout, onSubscribed: () => console.error('subscribed') });
    console.error('ended');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: ROOT, env: { PATH: process.env.PATH ?? '', KIOSK_MQTT_URL: broker.url }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  for (let i = 0; i < 200 && !out.includes('sig-1'); i += 1) await sleep(50);
  assert.match(out, /"device":"sig-1"/);
  const exited = once(child, 'exit');
  child.kill('SIGINT');
  const [status] = await exited;
  assert.equal(status, 0, err);
  assert.match(err, /ended/);
});
