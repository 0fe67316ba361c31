import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import { systemClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { discoveryMessages } from '../src/mqtt/discovery.js';
import { MqttPublisher } from '../src/mqtt/publisher.js';
import { kioskTopics } from '../src/mqtt/topics.js';
import { Machine } from '../src/state.js';
import { startBroker } from './helpers/broker.js';

type Config = Record<string, unknown> & { device: Record<string, unknown>; origin: Record<string, unknown> };

test('Home Assistant discovery: device with origin, state and user sensors, refresh and sign-out buttons; re-announced on HA birth', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.dispose());
  const config = loadConfig({
    env: { KIOSK_CLIENT_ID: 'c', KIOSK_AUTHORITY: 'https://login.example.test/t/', KIOSK_DEVICE_ID: 'lobby-1', KIOSK_MQTT_URL: broker.url, KIOSK_HA_DISCOVERY: 'true', KIOSK_HA_PREFIX: 'ha' },
  }).config;
  const machine = new Machine(systemClock);
  const calls: string[] = [];
  const operations = { refresh: async () => (calls.push('refresh'), 'ok'), signOut: async () => void calls.push('sign_out'), restartSignIn: () => undefined };
  const publisher = new MqttPublisher({ config, machine, operations, log: createLogger('silent'), version: '4.5.6' });
  t.after(() => publisher.stop());
  const live = await broker.observe({ filter: ['ha/#', 'kiosk/#'] });
  await publisher.start();
  const topics = ['sensor/lobby-1/sign_in_state', 'sensor/lobby-1/signed_in_user', 'button/lobby-1/refresh', 'button/lobby-1/sign_out'].map((x) => `ha/${x}/config`);
  const configs = await Promise.all(topics.map((x) => live.waitFor(x)));
  const [stateSensor, userSensor, refresh, signOut] = configs.map((m) => JSON.parse(m.text) as Config);
  assert.ok(stateSensor && userSensor && refresh && signOut);
  for (const c of [stateSensor, userSensor, refresh, signOut]) {
    assert.equal(c.availability_topic, 'kiosk/lobby-1/availability');
    assert.deepEqual([c.payload_available, c.payload_not_available], ['online', 'offline']);
    assert.deepEqual(c.device.identifiers, ['kiosk_agent_lobby-1']);
    assert.equal(c.device.sw_version, '4.5.6');
    assert.deepEqual(c.origin, { name: 'kiosk-agent', sw_version: '4.5.6' });
    assert.match(String(c.unique_id), /^kiosk_agent_lobby-1_/);
  }
  assert.equal(new Set(configs.map((m) => JSON.parse(m.text).unique_id)).size, 4);
  assert.deepEqual([stateSensor.state_topic, stateSensor.value_template, stateSensor.json_attributes_topic], ['kiosk/lobby-1/state', '{{ value_json.state }}', 'kiosk/lobby-1/claims']);
  assert.equal(userSensor.state_topic, 'kiosk/lobby-1/state');
  assert.match(String(userSensor.value_template), /value_json\.account/);
  assert.deepEqual([refresh.command_topic, signOut.command_topic], ['kiosk/lobby-1/request/refresh', 'kiosk/lobby-1/request/sign_out']);

  // Pressing the buttons is publishing their payload on their command topics.
  machine.go('awaiting_sign_in', { userCode: 'A' });
  machine.go('signed_in', { account: { username: 'u' } });
  const ha = await connectAsync(broker.url);
  t.after(() => ha.endAsync(true));
  await ha.publishAsync(String(refresh.command_topic), String(refresh.payload_press), { qos: 1 });
  const answer = await live.waitFor('kiosk/lobby-1/response/refresh');
  assert.deepEqual(JSON.parse(answer.text), { status: 'ok', transaction: 'homeassistant', data: { result: 'ok' } });
  await ha.publishAsync(String(signOut.command_topic), String(signOut.payload_press), { qos: 1 });
  await live.waitFor('kiosk/lobby-1/response/sign_out');
  assert.deepEqual(calls, ['refresh', 'sign_out']);

  const late = await broker.observe({ filter: 'ha/#' });
  assert.equal((await late.waitFor(topics[0] ?? '')).retain, true, 'configs are retained');
  const from = live.messages.length;
  await ha.publishAsync('ha/status', 'offline', { qos: 1 });
  await ha.publishAsync('ha/status', 'online', { qos: 1 });
  await Promise.all(topics.map((x) => live.waitFor(x, () => true, 3_000, from)));
  assert.equal(live.messages.slice(from).filter((m) => m.topic.endsWith('/config')).length, 4, 'announced once for one birth message');
});

test('Home Assistant discovery names the device KIOSK_DEVICE_NAME and suggests KIOSK_LOCATION as its area', () => {
  const topics = kioskTopics('kiosk', 'lobby-1');
  const device = (input: Partial<Parameters<typeof discoveryMessages>[0]>): Record<string, unknown> =>
    (JSON.parse(discoveryMessages({ haPrefix: 'homeassistant', deviceId: 'lobby-1', version: '1', topics, ...input })[0]!.payload) as { device: Record<string, unknown> }).device;
  assert.equal(device({}).name, 'Kiosk lobby-1');
  assert.equal(device({}).suggested_area, undefined);
  assert.equal(device({ deviceName: 'lobby-1' }).name, 'Kiosk lobby-1', 'the default name is the device id');
  assert.deepEqual([device({ deviceName: 'Lobby screen', location: 'Reception' }).name, device({ deviceName: 'Lobby screen', location: 'Reception' }).suggested_area], ['Lobby screen', 'Reception']);
});
