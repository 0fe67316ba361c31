import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect as tcpConnect } from 'node:net';
import { connectAsync } from 'mqtt';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { systemClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { MqttPublisher } from '../src/mqtt/publisher.js';
import { Machine } from '../src/state.js';
import { freePort, startBroker } from './helpers/broker.js';
import { createCa } from './helpers/pki.js';
import { eventually } from './helpers/wait.js';

const ops = { refresh: async () => 'not_signed_in', signOut: async () => undefined, restartSignIn: () => undefined };

function kiosk(t: { after(fn: () => unknown): void }, deviceId: string, env: Record<string, string>) {
  const config = loadConfig({ env: { KIOSK_CLIENT_ID: 'c', KIOSK_AUTHORITY: 'https://login.example.test/t/', KIOSK_DEVICE_ID: deviceId, ...env } }).config;
  const machine = new Machine(systemClock);
  const logs: Array<{ msg: string }> = [];
  const log = createLogger('debug', { write: (line: string) => void logs.push(JSON.parse(line) as { msg: string }) });
  const publisher = new MqttPublisher({ config, machine, operations: ops, log, version: 't', tuning: { reconnectPeriodMs: 200 } });
  t.after(() => publisher.stop());
  /** Connection attempts the broker or TLS refused so far. */
  const refusals = (): number => logs.filter((l) => l.msg === 'MQTT connection problem').length;
  return { machine, publisher, refusals };
}

test('mqtts:// with a test CA and a client certificate the broker requires', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-pki-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await createCa(dir);
  const other = await createCa(dir, 'other');
  const server = await ca.issue('broker', { names: ['IP:127.0.0.1', 'DNS:localhost'] });
  const client = await ca.issue('lobby-tls', { client: true });
  const stranger = await other.issue('stranger', { client: true });
  const broker = await startBroker({ tls: { ca: ca.ca, ...server, requireCertificate: true } });
  t.after(() => broker.dispose());
  const live = await broker.observe();
  const url = broker.tlsUrl ?? '';

  const good = kiosk(t, 'lobby-tls', { KIOSK_MQTT_URL: url, KIOSK_MQTT_CA: ca.ca, KIOSK_MQTT_CERT: client.cert, KIOSK_MQTT_KEY: client.key });
  const noCert = kiosk(t, 'no-cert', { KIOSK_MQTT_URL: url, KIOSK_MQTT_CA: ca.ca });
  const wrongCert = kiosk(t, 'wrong-cert', { KIOSK_MQTT_URL: url, KIOSK_MQTT_CA: ca.ca, KIOSK_MQTT_CERT: stranger.cert, KIOSK_MQTT_KEY: stranger.key });
  const untrusted = kiosk(t, 'untrusted', { KIOSK_MQTT_URL: url, KIOSK_MQTT_CA: other.ca, KIOSK_MQTT_CERT: client.cert, KIOSK_MQTT_KEY: client.key });
  for (const k of [good, noCert, wrongCert, untrusted]) {
    await k.publisher.start();
    k.machine.go('awaiting_sign_in', { userCode: 'TLS-CODE' });
  }
  await live.waitFor('kiosk/lobby-tls/state', (m) => JSON.parse(m.text).user_code === 'TLS-CODE');
  const late = await broker.observe({ filter: 'kiosk/lobby-tls/state' });
  assert.equal((await late.waitFor('kiosk/lobby-tls/state')).retain, true);
  assert.equal(good.publisher.mqttStatus(), 'connected');
  for (const [name, k] of [['no-cert', noCert], ['wrong-cert', wrongCert], ['untrusted', untrusted]] as const) {
    // Refused, and refused again on the retry: not merely not connected yet.
    await eventually(() => k.refusals() >= 2, 10_000, `${name} refused twice`);
    assert.equal(k.publisher.mqttStatus(), 'disconnected', name);
    assert.deepEqual(live.on(`kiosk/${name}/state`), [], name);
  }
});

test('password file and ACL: a kiosk publishes only under its own subtree', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-secret-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const acl = [
    'user operator',
    'topic read kiosk/#',
    'topic write kiosk/+/request/#',
    '',
    ...['availability', 'state', 'claims', 'events', 'response/#'].map((x) => `pattern write kiosk/%u/${x}`),
    'pattern read kiosk/%u/request/#',
  ].join('\n');
  const users = { 'lobby-7': 'pw-seven', 'lobby-8': 'pw-eight', operator: 'pw-operator' };
  const broker = await startBroker({ users, acl, observer: { username: 'operator', password: 'pw-operator' } });
  t.after(() => broker.dispose());
  const live = await broker.observe();
  const secret = join(dir, 'password');
  await writeFile(secret, 'pw-seven\n');
  const seven = kiosk(t, 'lobby-7', { KIOSK_MQTT_URL: broker.url, KIOSK_MQTT_USERNAME: 'lobby-7', KIOSK_MQTT_PASSWORD_FILE: secret });
  const impostor = kiosk(t, 'lobby-9', { KIOSK_MQTT_URL: broker.url, KIOSK_MQTT_USERNAME: 'lobby-8', KIOSK_MQTT_PASSWORD: 'wrong' });
  await seven.publisher.start();
  await impostor.publisher.start();
  seven.machine.go('awaiting_sign_in', { userCode: 'ACL-CODE' });
  await live.waitFor('kiosk/lobby-7/state', (m) => JSON.parse(m.text).user_code === 'ACL-CODE');
  await live.waitFor('kiosk/lobby-7/availability', (m) => m.text === 'online');

  // The operator's command reaches the kiosk; a response topic outside its own response/ is refused there.
  const operator = await connectAsync(broker.url, { username: 'operator', password: 'pw-operator', protocolVersion: 5 });
  t.after(() => operator.endAsync(true));
  await operator.publishAsync('kiosk/lobby-7/request/status', '{"transaction":"op"}', { qos: 1, properties: { responseTopic: 'kiosk/lobby-8/state' } });
  const reply = await live.waitFor('kiosk/lobby-7/response/status');
  assert.equal(JSON.parse(reply.text).transaction, 'op');
  assert.equal(JSON.parse(reply.text).error?.code, 'bad_response_topic');

  // Another kiosk cannot command lobby-7, nor can lobby-7 write into lobby-8's subtree.
  const eight = await connectAsync(broker.url, { username: 'lobby-8', password: 'pw-eight', protocolVersion: 5 });
  t.after(() => eight.endAsync(true));
  const hostile = await connectAsync(broker.url, { username: 'lobby-7', password: 'pw-seven', clientId: 'lobby-7-raw', protocolVersion: 5 });
  t.after(() => hostile.endAsync(true));
  await eight.publishAsync('kiosk/lobby-7/request/status', '{"transaction":"from-8"}', { qos: 1 }).catch(() => undefined);
  await hostile.publishAsync('kiosk/lobby-8/state', '{"state":"signed_in"}', { qos: 1, retain: true }).catch(() => undefined);
  await hostile.publishAsync('kiosk/lobby-7/events', '{"event":"control"}', { qos: 1 });
  await live.waitFor('kiosk/lobby-7/events', (m) => m.text.includes('control'));
  // The kiosk answers commands in order: once the operator's next one is answered, an answer to
  // lobby-8's earlier request would have come before it.
  await operator.publishAsync('kiosk/lobby-7/request/status', '{"transaction":"op-after"}', { qos: 1 });
  await live.waitFor('kiosk/lobby-7/response/status', (m) => m.text.includes('op-after'));
  assert.deepEqual(live.on('kiosk/lobby-8/state'), [], 'nothing outside the own subtree got through');
  assert.deepEqual(live.on('kiosk/lobby-7/response/status').map((m) => JSON.parse(m.text).transaction), ['op', 'op-after'], 'only the operator was answered');
  assert.equal(seven.publisher.mqttStatus(), 'connected');
  assert.equal(impostor.publisher.mqttStatus(), 'disconnected');
  assert.deepEqual(live.on('kiosk/lobby-9/state'), []);
});

test('ws:// reaches the broker through a WebSocket endpoint', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.dispose());
  // This Mosquitto build has no WebSocket listener: a small WebSocket-to-TCP bridge stands in for one.
  const port = await freePort();
  const bridge = new WebSocketServer({ host: '127.0.0.1', port, path: '/mqtt' });
  bridge.on('connection', (socket) => {
    const ws = createWebSocketStream(socket);
    const tcp = tcpConnect(broker.port, '127.0.0.1');
    ws.pipe(tcp).pipe(ws);
    ws.on('error', () => tcp.destroy());
    tcp.on('error', () => ws.destroy());
  });
  t.after(() => new Promise((resolve) => bridge.close(resolve)));
  const live = await broker.observe();
  const k = kiosk(t, 'lobby-ws', { KIOSK_MQTT_URL: `ws://127.0.0.1:${port}/mqtt` });
  await k.publisher.start();
  k.machine.go('awaiting_sign_in', { userCode: 'WS-CODE' });
  await live.waitFor('kiosk/lobby-ws/state', (m) => JSON.parse(m.text).user_code === 'WS-CODE');
  assert.equal(k.publisher.mqttStatus(), 'connected');
  await k.publisher.stop();
  for (const c of bridge.clients) c.terminate();
});
