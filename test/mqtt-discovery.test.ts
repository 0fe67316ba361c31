import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { connectAsync } from 'mqtt';
import { systemClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { deviceDiscovery, kioskPageUrl, legacyDiscoveryTopics, MIGRATE_PAYLOAD } from '../src/mqtt/discovery.js';
import { MqttPublisher } from '../src/mqtt/publisher.js';
import { kioskTopics } from '../src/mqtt/topics.js';
import { Machine, STATES } from '../src/state.js';
import { startBroker } from './helpers/broker.js';
import type { Broker } from './helpers/broker.js';
import { deviceDiscoveryProblems } from './helpers/ha-schema.js';

type Component = Record<string, unknown>;
interface DevicePayload {
  device: Record<string, unknown>;
  origin: Record<string, unknown>;
  components: Record<string, Component>;
  [key: string]: unknown;
}

const BASE_ENV = { KIOSK_CLIENT_ID: 'c', KIOSK_AUTHORITY: 'https://login.example.test/t/', KIOSK_DEVICE_ID: 'lobby-1', KIOSK_HA_DISCOVERY: 'true', KIOSK_HA_PREFIX: 'ha' };
const DEVICE_TOPIC = 'ha/device/lobby-1/config';

function kiosk(t: TestContext, broker: Broker, env: Record<string, string> = {}) {
  const config = loadConfig({ env: { ...BASE_ENV, KIOSK_MQTT_URL: broker.url, ...env } }).config;
  const machine = new Machine(systemClock);
  const calls: string[] = [];
  const operations = { refresh: async () => (calls.push('refresh'), 'ok'), signOut: async () => void calls.push('sign_out'), restartSignIn: () => undefined };
  const publisher = new MqttPublisher({ config, machine, operations, log: createLogger('silent'), version: '4.5.6' });
  t.after(() => publisher.stop());
  return { machine, publisher, calls };
}

test('Home Assistant device-based discovery: one retained config with origin and components, valid by Home Assistant\'s schema; buttons work; re-announced on HA birth', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.dispose());
  const { machine, publisher, calls } = kiosk(t, broker);
  const live = await broker.observe({ filter: ['ha/#', 'kiosk/#'] });
  await publisher.start();
  const config = JSON.parse((await live.waitFor(DEVICE_TOPIC)).text) as DevicePayload;

  assert.deepEqual(deviceDiscoveryProblems(config), [], 'Home Assistant would accept the payload');
  assert.deepEqual(config.origin, { name: 'kiosk-agent', sw_version: '4.5.6' });
  assert.deepEqual(config.device.identifiers, ['kiosk_agent_lobby-1']);
  assert.equal(config.device.configuration_url, undefined, 'no kiosk page served, no link');
  assert.deepEqual([config.availability_topic, config.payload_available, config.payload_not_available], ['kiosk/lobby-1/availability', 'online', 'offline']);
  const c = config.components;
  assert.deepEqual(Object.keys(c), ['sign_in_state', 'signed_in_user', 'token_expires', 'refresh', 'sign_out']);
  assert.deepEqual(Object.values(c).map((x) => x.unique_id), Object.keys(c).map((k) => `kiosk_agent_lobby-1_${k}`));
  const { sign_in_state: state, signed_in_user: user, token_expires: expires, refresh, sign_out: signOut } = c as Record<string, Component>;
  assert.ok(state && user && expires && refresh && signOut);
  assert.deepEqual([state.platform, state.device_class, state.options], ['sensor', 'enum', [...STATES]]);
  assert.deepEqual([state.state_topic, state.value_template, state.json_attributes_topic], ['kiosk/lobby-1/state', '{{ value_json.state }}', 'kiosk/lobby-1/claims']);
  assert.match(String(user.value_template), /else %\}None\{% endif/, 'nobody signed in reads "unknown", not an empty name');
  assert.deepEqual([expires.device_class, expires.entity_category], ['timestamp', 'diagnostic']);
  assert.deepEqual([refresh.platform, refresh.entity_category, refresh.command_topic], ['button', 'diagnostic', 'kiosk/lobby-1/request/refresh']);
  assert.deepEqual([signOut.entity_category, signOut.command_topic], [undefined, 'kiosk/lobby-1/request/sign_out']);
  // The kiosk's own state only ever holds one of the enum's options.
  for (const s of STATES) assert.ok((state.options as string[]).includes(s));

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
  assert.equal((await late.waitFor(DEVICE_TOPIC)).retain, true, 'the config is retained');
  const from = live.messages.length;
  await ha.publishAsync('ha/status', 'offline', { qos: 1 });
  await ha.publishAsync('ha/status', 'online', { qos: 1 });
  await live.waitFor(DEVICE_TOPIC, () => true, 3_000, from);
  await live.waitFor('kiosk/lobby-1/availability', (m) => m.text === 'online', 3_000, from);
  const announced = live.messages.filter((m) => m.topic.startsWith('ha/') && m.topic.endsWith('/config'));
  t.diagnostic(`discovery messages: ${announced.length} for two announcements (per-entity discovery sent 4 each, 8 in all)`);
  assert.equal(live.messages.slice(from).filter((m) => m.topic.endsWith('/config')).length, 1, 'one message for one birth message');
  assert.deepEqual(announced.map((m) => m.topic), [DEVICE_TOPIC, DEVICE_TOPIC], 'nothing on per-entity topics');
});

test('a per-entity config an earlier version left retained is handed over: migrate_discovery, the device config, then cleared', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.dispose());
  const legacy = legacyDiscoveryTopics('ha', 'lobby-1');
  assert.deepEqual(legacy, ['ha/sensor/lobby-1/sign_in_state/config', 'ha/sensor/lobby-1/signed_in_user/config', 'ha/button/lobby-1/refresh/config', 'ha/button/lobby-1/sign_out/config']);
  const old = await connectAsync(broker.url);
  for (const topic of legacy) await old.publishAsync(topic, JSON.stringify({ name: 'old', unique_id: `kiosk_agent_lobby-1_${topic.split('/')[3]}` }), { qos: 1, retain: true });
  await old.endAsync();
  const live = await broker.observe({ filter: 'ha/#' });
  await live.waitFor(legacy[3]!);
  const from = live.messages.length;

  const { publisher } = kiosk(t, broker);
  await publisher.start();
  for (const topic of legacy) await live.waitFor(topic, (m) => m.text === '', 5_000, from);
  const seen = live.messages.slice(from);
  for (const topic of legacy) {
    const on = seen.filter((m) => m.topic === topic).map((m) => m.text);
    assert.deepEqual(on, [MIGRATE_PAYLOAD, ''], `${topic}: migrated, then cleared`);
    const migrateAt = seen.findIndex((m) => m.topic === topic && m.text === MIGRATE_PAYLOAD);
    const clearedAt = seen.findIndex((m) => m.topic === topic && m.text === '');
    assert.ok(seen.slice(migrateAt, clearedAt).some((m) => m.topic === DEVICE_TOPIC), `${topic}: the device config comes between`);
  }
  t.diagnostic(`a kiosk moving from per-entity discovery sent ${seen.length} discovery messages once (${seen.filter((m) => m.topic === DEVICE_TOPIC).length} device configs)`);
  for (const topic of legacy) assert.equal(await broker.retained(topic, 300), undefined, `${topic} no longer retained`);
  assert.ok(await broker.retained(DEVICE_TOPIC), 'the device config stays retained');

  // A later connect finds nothing to move: one message.
  await publisher.stop();
  const again = live.messages.length;
  const second = kiosk(t, broker);
  await second.publisher.start();
  await live.waitFor(DEVICE_TOPIC, () => true, 5_000, again);
  await second.publisher.stop();
  assert.deepEqual(live.messages.slice(again).map((m) => m.topic), [DEVICE_TOPIC]);
});

test('Home Assistant discovery names the device KIOSK_DEVICE_NAME, suggests KIOSK_LOCATION and links the kiosk page when others can open it', () => {
  const topics = kioskTopics('kiosk', 'lobby-1');
  const device = (input: Partial<Parameters<typeof deviceDiscovery>[0]>): Record<string, unknown> =>
    (JSON.parse(deviceDiscovery({ haPrefix: 'homeassistant', deviceId: 'lobby-1', version: '1', topics, ...input }).payload) as DevicePayload).device;
  assert.equal(device({}).name, 'Kiosk lobby-1');
  assert.equal(device({}).suggested_area, undefined);
  assert.equal(device({ deviceName: 'lobby-1' }).name, 'Kiosk lobby-1', 'the default name is the device id');
  assert.deepEqual([device({ deviceName: 'Lobby screen', location: 'Reception' }).name, device({ deviceName: 'Lobby screen', location: 'Reception' }).suggested_area], ['Lobby screen', 'Reception']);

  const url = (env: Record<string, string>): string | undefined => kioskPageUrl(loadConfig({ env: { ...BASE_ENV, ...env } }).config);
  assert.equal(url({ KIOSK_DISPLAY: 'terminal' }), undefined, 'no page, no link');
  assert.equal(url({ KIOSK_DISPLAY: 'web' }), undefined, 'a loopback page is no link for another machine');
  assert.equal(url({ KIOSK_DISPLAY: 'web', KIOSK_WEB_HOST: '0.0.0.0' }), undefined);
  assert.equal(url({ KIOSK_DISPLAY: 'terminal,web', KIOSK_WEB_HOST: '0.0.0.0', KIOSK_WEB_ALLOWED_HOSTS: 'kiosk-1.local 192.168.1.20' }), 'http://kiosk-1.local:8080/');
  assert.equal(url({ KIOSK_DISPLAY: 'web', KIOSK_WEB_HOST: '192.168.1.20', KIOSK_WEB_PORT: '8081' }), 'http://192.168.1.20:8081/');
  const linked = JSON.parse(deviceDiscovery({ haPrefix: 'homeassistant', deviceId: 'lobby-1', version: '1', topics, configurationUrl: 'http://kiosk-1.local:8080/' }).payload) as DevicePayload;
  assert.equal(linked.device.configuration_url, 'http://kiosk-1.local:8080/');
  assert.deepEqual(deviceDiscoveryProblems(linked), []);
});

test('the vendored schema check refuses what Home Assistant refuses (it can fail)', () => {
  const good = JSON.parse(deviceDiscovery({ haPrefix: 'ha', deviceId: 'k', version: '1', topics: kioskTopics('kiosk', 'k') }).payload) as DevicePayload;
  const broken = (change: (p: DevicePayload) => void): string[] => {
    const p = structuredClone(good);
    change(p);
    return deviceDiscoveryProblems(p);
  };
  assert.deepEqual(deviceDiscoveryProblems(good), []);
  assert.match(broken((p) => delete (p as Partial<DevicePayload>).origin).join(), /origin is required/);
  assert.match(broken((p) => (p.stat_t = 'x')).join(), /unknown top-level key stat_t/);
  assert.match(broken((p) => (p.device.sw = '1')).join(), /unknown device key sw/);
  assert.match(broken((p) => delete p.components.sign_in_state!.device_class).join(), /options need device_class enum/);
  assert.match(broken((p) => (p.components.sign_in_state!.unit_of_measurement = 's')).join(), /options exclude/);
  assert.match(broken((p) => (p.components.token_expires!.entity_category = 'config')).join(), /cannot be a config entity/);
  assert.match(broken((p) => delete p.components.refresh!.unique_id).join(), /unique_id is required/);
  assert.match(broken((p) => (p.components.sign_out!.platform = 'switch')).join(), /platform switch/);
});
