import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import type { Operations } from '../src/mqtt/commands.js';
import { MqttPublisher } from '../src/mqtt/publisher.js';
import { Machine } from '../src/state.js';
import { freePort, startBroker } from './helpers/broker.js';

const ROOT = new URL('..', import.meta.url).pathname;
const idle: Operations = { refresh: async () => 'not_signed_in', signOut: async () => undefined, restartSignIn: () => undefined };
const STATE_KEYS = ['state', 'since', 'detail', 'user_code', 'verification_uri', 'expires_at', 'account', 'token_expires_at', 'next_refresh_at', 'retry_at', 'error', 'agent'];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function kiosk(url: string, deviceId: string, env: Record<string, string> = {}) {
  const config = loadConfig({ env: { KIOSK_CLIENT_ID: 'kiosk-test', KIOSK_AUTHORITY: 'https://login.example.test/t/', KIOSK_DEVICE_ID: deviceId, KIOSK_MQTT_URL: url, ...env } }).config;
  const machine = new Machine(systemClock);
  const publisher = new MqttPublisher({ config, machine, operations: idle, log: createLogger('silent'), version: '9.9.9', tuning: { reconnectPeriodMs: 200 } });
  return { machine, publisher };
}

const signedIn = (m: Machine): void => {
  m.go('awaiting_sign_in', { userCode: 'ABCD-EFGH', verificationUri: 'https://login.example.test/device', verificationUriComplete: 'https://login.example.test/device?otc=ABCD-EFGH', expiresAt: Date.now() + 900_000 });
  m.setClaims({ name: 'Ada Lovelace', preferred_username: 'ada@example.test', oid: 'o-1' });
  m.go('signed_in', { account: { username: 'ada@example.test', name: 'Ada Lovelace' }, tokenExpiresAt: Date.now() + 3_600_000, nextRefreshAt: Date.now() + 900_000 });
  m.record('sign_in_succeeded', { username: 'ada@example.test', accessToken: 'must-not-leave' });
};

test('a late subscriber sees retained availability, state and claims; sign-out clears claims; events are not retained', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.dispose());
  const { machine, publisher } = kiosk(broker.url, 'lobby-1');
  t.after(() => publisher.stop());
  const live = await broker.observe();
  await publisher.start();
  await live.waitFor('kiosk/lobby-1/availability', (m) => m.text === 'online');
  signedIn(machine);
  const state = await live.waitFor('kiosk/lobby-1/state', (m) => JSON.parse(m.text).state === 'signed_in');
  assert.equal(publisher.mqttStatus(), 'connected');

  const late = await broker.observe();
  const [availability, retained, claims] = await Promise.all(['availability', 'state', 'claims'].map((k) => late.waitFor(`kiosk/lobby-1/${k}`)));
  assert.deepEqual([availability?.text, availability?.retain, retained?.retain, claims?.retain], ['online', true, true, true]);
  assert.equal(retained?.text, state.text);
  const body = JSON.parse(state.text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).filter((k) => !STATE_KEYS.includes(k)), []);
  assert.match(String(body.since), ISO);
  assert.match(String(body.token_expires_at), ISO);
  assert.deepEqual(body.account, { username: 'ada@example.test', name: 'Ada Lovelace' });
  assert.deepEqual(body.agent, { version: '9.9.9', device_id: 'lobby-1', name: 'lobby-1' });
  assert.deepEqual(JSON.parse(claims?.text ?? ''), { name: 'Ada Lovelace', preferred_username: 'ada@example.test', oid: 'o-1' });

  const code = live.on('kiosk/lobby-1/state').map((m) => JSON.parse(m.text)).find((s) => s.state === 'awaiting_sign_in');
  assert.equal(code.user_code, 'ABCD-EFGH');
  assert.equal(code.verification_uri, 'https://login.example.test/device');
  const event = await live.waitFor('kiosk/lobby-1/events', (m) => JSON.parse(m.text).event === 'sign_in_succeeded');
  assert.equal(event.retain, false);
  assert.deepEqual(Object.keys(JSON.parse(event.text)).sort(), ['at', 'event', 'username']);

  machine.setClaims(undefined);
  machine.record('signed_out');
  machine.go('awaiting_sign_in', { userCode: 'WXYZ-1234', verificationUri: 'https://login.example.test/device', expiresAt: Date.now() + 900_000 });
  await live.waitFor('kiosk/lobby-1/claims', (m) => m.payload.length === 0);
  await live.waitFor('kiosk/lobby-1/events', (m) => JSON.parse(m.text).event === 'signed_out');
  const third = await broker.observe();
  await third.waitFor('kiosk/lobby-1/state', (m) => JSON.parse(m.text).user_code === 'WXYZ-1234');
  await sleep(150);
  assert.deepEqual(third.on('kiosk/lobby-1/claims'), [], 'cleared claims are not retained');
  assert.deepEqual(third.on('kiosk/lobby-1/events'), [], 'events are not retained');
  for (const m of live.messages) assert.doesNotMatch(m.text, /must-not-leave|otc=/);
});

test('stop publishes stopped, then offline, within 2 s', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.dispose());
  const { machine, publisher } = kiosk(broker.url, 'lobby-2');
  const live = await broker.observe();
  await publisher.start();
  await live.waitFor('kiosk/lobby-2/availability', (m) => m.text === 'online');
  machine.go('stopped');
  const began = Date.now();
  await publisher.stop();
  assert.ok(Date.now() - began < 2_000);
  const stopped = await live.waitFor('kiosk/lobby-2/state', (m) => JSON.parse(m.text).state === 'stopped');
  const offline = await live.waitFor('kiosk/lobby-2/availability', (m) => m.text === 'offline');
  assert.ok(live.messages.indexOf(stopped) < live.messages.indexOf(offline), 'stopped before offline');
  assert.equal(publisher.mqttStatus(), 'disconnected');
});

test('stop is bounded when the broker is gone, and start never waits for a broker', async (t) => {
  const port = await freePort();
  const { machine, publisher } = kiosk(`mqtt://127.0.0.1:${port}`, 'lobby-3');
  const began = Date.now();
  await publisher.start();
  machine.go('awaiting_sign_in', { userCode: 'OLD-CODE' });
  machine.go('awaiting_sign_in', { userCode: 'NEW-CODE' });
  assert.ok(Date.now() - began < 100, 'start returned at once');
  assert.equal(publisher.mqttStatus(), 'disconnected');
  const stopBegan = Date.now();
  await publisher.stop();
  assert.ok(Date.now() - stopBegan < 2_100);
  t.diagnostic(`stop without a broker took ${Date.now() - stopBegan} ms`);
});

test('a kiosk that boots before its broker publishes its boot marker and its latest state, no backlog', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.dispose());
  await broker.stop();
  const { machine, publisher } = kiosk(broker.url, 'lobby-4');
  t.after(() => publisher.stop());
  await publisher.start();
  for (let i = 0; i < 5; i += 1) machine.go('awaiting_sign_in', { userCode: `CODE-${i}` });
  await sleep(300);
  await broker.restart();
  const live = await broker.observe();
  await live.waitFor('kiosk/lobby-4/state', (m) => JSON.parse(m.text).user_code === 'CODE-4', 3_000);
  await sleep(300);
  // `starting` tells operators the kiosk restarted; of the codes shown meanwhile only the latest.
  assert.deepEqual(live.on('kiosk/lobby-4/state').map((m) => JSON.parse(m.text).state + ' ' + (JSON.parse(m.text).user_code ?? '')), ['starting ', 'awaiting_sign_in CODE-4']);
  const retained = await (await broker.observe()).waitFor('kiosk/lobby-4/state', () => true, 3_000);
  assert.equal(JSON.parse(retained.text).user_code, 'CODE-4', 'the retained state is the latest');
});

test('kill -9 of the kiosk process: the Last Will says offline', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.dispose());
  const code = `
    import { systemClock } from '${ROOT}src/clock.ts';
    import { createLogger } from '${ROOT}src/log.ts';
    import { MqttPublisher } from '${ROOT}src/mqtt/publisher.ts';
    import { Machine } from '${ROOT}src/state.ts';
    const machine = new Machine(systemClock);
    const config = { deviceId: 'lobby-5', haDiscovery: false, haPrefix: 'homeassistant', mqtt: { url: '${broker.url}', prefix: 'kiosk' } };
    const ops = { refresh: async () => 'not_signed_in', signOut: async () => {}, restartSignIn: () => {} };
    await new MqttPublisher({ config, machine, operations: ops, log: createLogger('silent'), version: 'x' }).start();
    machine.go('awaiting_sign_in', { userCode: 'KILL-ME' });
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  const live = await broker.observe();
  await live.waitFor('kiosk/lobby-5/state', (m) => JSON.parse(m.text).user_code === 'KILL-ME', 10_000);
  await live.waitFor('kiosk/lobby-5/availability', (m) => m.text === 'online');
  const from = live.messages.length;
  child.kill('SIGKILL');
  await once(child, 'exit');
  const will = await live.waitFor('kiosk/lobby-5/availability', (m) => m.text === 'offline', 5_000, from);
  assert.equal(will.text, 'offline');
  const late = await broker.observe();
  assert.equal((await late.waitFor('kiosk/lobby-5/availability')).text, 'offline');
  assert.equal((await late.waitFor('kiosk/lobby-5/availability')).retain, true);
});
