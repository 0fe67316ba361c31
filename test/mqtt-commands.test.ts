import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectAsync } from 'mqtt';
import type { MqttClient } from 'mqtt';
import { systemClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import type { Operations } from '../src/mqtt/commands.js';
import { MqttPublisher } from '../src/mqtt/publisher.js';
import { Machine } from '../src/state.js';
import { startBroker } from './helpers/broker.js';
import type { Broker, Observer } from './helpers/broker.js';

/** The agent's side of the boundary: what `Agent.operations` does, driving a real machine. */
class FakeOperations implements Operations {
  readonly calls: string[] = [];
  constructor(private readonly machine: Machine) {}
  async refresh(): Promise<string> {
    this.calls.push('refresh');
    if (this.machine.snapshot.state !== 'signed_in') return 'not_signed_in';
    this.machine.go('signed_in', { ...this.machine.snapshot, tokenExpiresAt: Date.now() + 3_600_000 });
    return 'ok';
  }
  async signOut(): Promise<void> {
    this.calls.push('sign_out');
    this.machine.setClaims(undefined);
    this.machine.go('awaiting_sign_in', { userCode: 'AFTER-OUT' });
  }
  restartSignIn(): void {
    this.calls.push('restart_sign_in');
    this.machine.go('awaiting_sign_in', { userCode: 'RESTARTED' });
  }
}

interface Setup { broker: Broker; machine: Machine; ops: FakeOperations; logs: Array<{ msg: string; error?: string }>; live: Observer; publisher: MqttPublisher }

async function setup(t: { after(fn: () => unknown): void }, limits = {}): Promise<Setup> {
  const broker = await startBroker();
  t.after(() => broker.dispose());
  const config = loadConfig({ env: { KIOSK_CLIENT_ID: 'c', KIOSK_AUTHORITY: 'https://login.example.test/t/', KIOSK_DEVICE_ID: 'k1', KIOSK_MQTT_URL: broker.url } }).config;
  const machine = new Machine(systemClock);
  const ops = new FakeOperations(machine);
  const logs: Setup['logs'] = [];
  const log = createLogger('info', { write: (s: string) => void logs.push(JSON.parse(s) as Setup['logs'][number]) });
  const publisher = new MqttPublisher({ config, machine, operations: ops, log, version: 't', limits });
  t.after(() => publisher.stop());
  const live = await broker.observe();
  await publisher.start();
  await live.waitFor('kiosk/k1/availability', (m) => m.text === 'online');
  return { broker, machine, ops, logs, live, publisher };
}

async function requester(t: { after(fn: () => unknown): void }, broker: Broker, protocolVersion: 4 | 5): Promise<MqttClient> {
  const client = await connectAsync(broker.url, { protocolVersion });
  t.after(() => client.endAsync(true));
  return client;
}

type Json = Record<string, unknown>;
const json = (text: string): Json => JSON.parse(text) as Json;

test('each command answers on response/<command>, with and without MQTT 5 correlation', async (t) => {
  const s = await setup(t);
  s.machine.go('awaiting_sign_in', { userCode: 'FIRST' });
  s.machine.go('signed_in', { account: { username: 'ada@example.test', name: 'Ada' }, tokenExpiresAt: Date.now() + 60_000 });
  const v3 = await requester(t, s.broker, 4);
  const v5 = await requester(t, s.broker, 5);
  const replies = await s.broker.observe({ filter: 'kiosk/k1/response/ops/#' });
  let n = 0;
  const ask = async (command: string, body: string, v: 4 | 5): Promise<Json> => {
    const transaction = `tx-${(n += 1)}`;
    const from = s.live.messages.length;
    const payload = body === 'tx' ? JSON.stringify({ transaction }) : body;
    const properties = v === 5 ? { responseTopic: `kiosk/k1/response/ops/${transaction}`, correlationData: Buffer.from(`corr-${transaction}`) } : undefined;
    await (v === 5 ? v5 : v3).publishAsync(`kiosk/k1/request/${command}`, payload, { qos: 1, ...(properties ? { properties } : {}) });
    const reply = await s.live.waitFor(`kiosk/k1/response/${command}`, () => true, 5_000, from);
    if (v === 5) {
      const direct = await replies.waitFor(`kiosk/k1/response/ops/${transaction}`);
      assert.equal(direct.text, reply.text);
      assert.equal(direct.properties?.correlationData?.toString(), `corr-${transaction}`);
    }
    return { ...json(reply.text), asked: body === 'tx' ? transaction : undefined };
  };
  for (const v of [4, 5] as const) {
    const status = await ask('status', 'tx', v);
    assert.equal(status.status, 'ok');
    assert.equal(status.transaction, status.asked);
    assert.equal((status.data as { state: string }).state, 'signed_in');
    const refreshed = await ask('refresh', '', v);
    assert.deepEqual(refreshed, { status: 'ok', data: { result: 'ok' }, asked: undefined });
  }
  const wrong = await ask('restart_sign_in', 'tx', 5);
  assert.deepEqual([wrong.status, (wrong.error as { code: string }).code], ['error', 'wrong_state']);
  assert.deepEqual(await ask('sign_out', 'tx', 4).then((r) => [r.status, r.transaction === r.asked]), ['ok', true]);
  await s.live.waitFor('kiosk/k1/claims', (m) => m.payload.length === 0);
  assert.equal((await ask('sign_out', '{}', 5)).status, 'error', 'nobody to sign out');
  const notSignedIn = await ask('refresh', '{}', 5);
  assert.equal((notSignedIn.error as { code: string }).code, 'not_signed_in');
  assert.equal((await ask('restart_sign_in', 'tx', 5)).status, 'ok');
  await s.live.waitFor('kiosk/k1/state', (m) => json(m.text).user_code === 'RESTARTED');
  assert.deepEqual(s.ops.calls, ['refresh', 'refresh', 'sign_out', 'refresh', 'restart_sign_in']);
  for (const m of s.live.messages.filter((x) => x.topic.startsWith('kiosk/k1/response/'))) {
    assert.equal(m.retain, false);
    assert.deepEqual(Object.keys(json(m.text)).filter((k) => !['status', 'transaction', 'error', 'data'].includes(k)), []);
  }
});

test('malformed, unknown, oversized and bad-transaction requests get error responses and a log line', async (t) => {
  const s = await setup(t);
  const client = await requester(t, s.broker, 5);
  const cases: Array<[string, string | Buffer, string]> = [
    ['status', '{not json', 'bad_json'],
    ['status', '[1,2]', 'bad_request'],
    ['status', 'null', 'bad_request'],
    ['status', '"text"', 'bad_request'],
    ['status', JSON.stringify({ transaction: { nested: true } }), 'bad_request'],
    ['reboot', '{}', 'unknown_command'],
    ['status', Buffer.alloc(5_000, 0x20), 'too_large'],
    ['status', Buffer.alloc(200_000, 0x20), 'too_large'],
    ['status', Buffer.from([0xff, 0xfe, 0x00]), 'bad_json'],
  ];
  for (const [command, payload, code] of cases) {
    const from = s.live.messages.length;
    await client.publishAsync(`kiosk/k1/request/${command}`, payload, { qos: 1, properties: { responseTopic: 'bad/#/topic' } });
    const reply = json((await s.live.waitFor(`kiosk/k1/response/${command}`, () => true, 5_000, from)).text);
    assert.equal(reply.status, 'error');
    assert.equal((reply.error as { code: string }).code, code, `${command} ${String(payload).slice(0, 20)}`);
  }
  assert.ok(s.logs.filter((l) => l.msg === 'command rejected').length >= cases.length);
  assert.equal(s.publisher.mqttStatus(), 'connected', 'a wildcard response topic did not get the kiosk disconnected');
  s.machine.go('awaiting_sign_in', { userCode: 'STILL-OK' });
  await s.live.waitFor('kiosk/k1/state', (m) => json(m.text).user_code === 'STILL-OK');
});

test('a burst of commands is rate-limited, then the kiosk answers again', async (t) => {
  const s = await setup(t, { burst: 5, perSecond: 5 });
  const client = await requester(t, s.broker, 5);
  await Promise.all(Array.from({ length: 40 }, (_, i) => client.publishAsync('kiosk/k1/request/status', JSON.stringify({ transaction: i }), { qos: 1 })));
  await s.live.waitFor('kiosk/k1/response/status', () => s.live.on('kiosk/k1/response/status').length >= 40, 5_000);
  const replies = s.live.on('kiosk/k1/response/status').map((m) => json(m.text));
  const limited = replies.filter((r) => (r.error as { code?: string } | undefined)?.code === 'rate_limited');
  assert.ok(limited.length >= 30, `${limited.length} of 40 rate-limited`);
  assert.ok(replies.filter((r) => r.status === 'ok').length >= 5);
  assert.ok(s.logs.filter((l) => l.msg === 'commands rate-limited').length <= 3, 'the flood is logged, not every request');
  await sleep(400);
  const from = s.live.messages.length;
  await client.publishAsync('kiosk/k1/request/status', '{"transaction":"after"}', { qos: 1 });
  const after = json((await s.live.waitFor('kiosk/k1/response/status', (m) => json(m.text).transaction === 'after', 5_000, from)).text);
  assert.equal(after.status, 'ok');
});
