import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { connectAsync } from 'mqtt';
import type { MqttClient } from 'mqtt';
import { removeDir, spawnAgent } from './helpers/agent.js';
import { startBroker } from './helpers/broker.js';
import type { Observer } from './helpers/broker.js';
import { startTestIdp } from './helpers/idp.js';
import { assertNoLeaks, kioskEnv, signedInKiosk } from './helpers/kiosk.js';

/**
 * CONTRACT §2: with MQTT 5, a request's response topic is honoured only under the kiosk's own
 * `<prefix>/<device_id>/response/`; any other is refused, the refusal on `…/response/<command>`. And the
 * shipped broker ACL (docker/mosquitto/acl) with one account per kiosk: the README's `mosquitto_rr`
 * example works through it, and a kiosk can write only its own Home Assistant discovery configs.
 */

const ROOT = 'kiosk/test-kiosk';
const ROOT_URL = new URL('..', import.meta.url);
const run = promisify(execFile);
const json = (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>;

/**
 * Where a response topic could do harm: the kiosk's own command and retained topics, another device's, and
 * near misses of the own response/. Nine, so that with one good request they stay within the agent's burst
 * of 10 commands (the rest are the fuzz suite's).
 */
const FOREIGN = [
  `${ROOT}/request/sign_out`,
  `${ROOT}/request/restart_sign_in`,
  `${ROOT}/state`,
  `${ROOT}/claims`,
  `${ROOT}/availability`,
  'kiosk/other-kiosk/state',
  'kiosk/other-kiosk/request/sign_out',
  `${ROOT}/response`,
  'kiosk/test-kiosk2/response/status',
];

/** Sends `status` with `responseTopic` and returns the answer on the kiosk's own response/status. */
async function status(client: MqttClient, seen: Observer, responseTopic: string, transaction: string): Promise<Record<string, unknown>> {
  const from = seen.messages.length;
  await client.publishAsync(`${ROOT}/request/status`, JSON.stringify({ transaction }), { qos: 1, properties: { responseTopic, correlationData: Buffer.from(transaction) } });
  const reply = await seen.waitFor(`${ROOT}/response/status`, (m) => json(m.text).transaction === transaction, 10_000, from);
  return json(reply.text);
}

test('MQTT 5 response topics: the real agent answers under its own response/ and refuses every other, running nothing', async (t) => {
  const kiosk = await signedInKiosk(t);
  const operator = await connectAsync(kiosk.broker.url, { protocolVersion: 5 });
  t.after(() => operator.endAsync(true));
  const from = kiosk.mqtt.messages.length;

  for (const [i, topic] of FOREIGN.entries()) {
    const answer = await status(operator, kiosk.mqtt, topic, `foreign-${i}`);
    assert.equal(answer.status, 'error', topic);
    assert.equal((answer.error as { code: string }).code, 'bad_response_topic', topic);
    assert.match((answer.error as { message: string }).message, new RegExp(`under ${ROOT}/response/`), 'the refusal says where answers may go');
  }
  // A topic under the own response/ is answered there, with the correlation data; published after every
  // refusal, its arrival means any stray answer to the requests before would have arrived too.
  const own = `${ROOT}/response/status/operator-1`;
  const ok = await status(operator, kiosk.mqtt, own, 'own');
  assert.equal(ok.status, 'ok');
  const direct = await kiosk.mqtt.waitFor(own, () => true, 5_000, from);
  assert.equal(json(direct.text).transaction, 'own');
  assert.equal(direct.properties?.correlationData?.toString(), 'own');

  const after = kiosk.mqtt.messages.slice(from);
  // The kiosk's own state may be republished meanwhile (it is its topic); no answer may land there or elsewhere.
  for (const topic of FOREIGN)
    assert.deepEqual(after.filter((m) => m.topic === topic && m.text.includes('"transaction"')).map((m) => m.text), [], `no answer published on ${topic}`);
  assert.equal(after.filter((m) => m.topic.startsWith(`${ROOT}/response/`)).length, FOREIGN.length + 2, 'one refusal each, and the one answer twice');
  assert.ok(!after.some((m) => m.topic === `${ROOT}/events` && json(m.text).event === 'signed_out'), 'no sign-out happened');
  assert.equal(kiosk.agent.states().at(-1), 'signed_in', 'still signed in');
  assert.equal(json((await kiosk.broker.retained(`${ROOT}/state`)) ?? '{}').state, 'signed_in');
  assert.ok(!kiosk.agent.logs().some((l) => l.msg === 'command done' && l.command !== 'status'), 'no command but status ran');
});

/** The shipped ACL and one account per kiosk (as deploy/make-devices.sh writes them), with its Home Assistant account. */
async function shippedBroker(t: TestContext) {
  const acl = await readFile(new URL('docker/mosquitto/acl', ROOT_URL), 'utf8');
  const users = { 'test-kiosk': 'pw-kiosk', 'other-kiosk': 'pw-other', operator: 'pw-operator', homeassistant: 'pw-ha' };
  const broker = await startBroker({ users, acl, observer: { username: 'operator', password: 'pw-operator' } });
  t.after(() => broker.dispose());
  return { broker, users };
}

test('the shipped ACL: the README mosquitto_rr example answers, foreign response topics are refused, a kiosk writes only its own discovery', async (t) => {
  const { broker } = await shippedBroker(t);
  const idp = await startTestIdp({ deviceCodeInterval: 1 });
  const seen = await broker.observe({ filter: 'kiosk/#' });
  const discovery = await broker.observe({ filter: 'homeassistant/#', options: { username: 'homeassistant', password: 'pw-ha' } });
  const agent = await spawnAgent({
    env: { ...kioskEnv(idp, broker.url), KIOSK_MQTT_USERNAME: 'test-kiosk', KIOSK_MQTT_PASSWORD: 'pw-kiosk', KIOSK_HA_DISCOVERY: 'true' },
  });
  t.after(async () => {
    await agent.stop('SIGKILL');
    try {
      await assertNoLeaks([agent], idp, seen);
    } finally {
      await idp.close();
      await removeDir(agent.dir);
    }
  });
  await agent.waitForState('awaiting_sign_in');
  await seen.waitFor(`${ROOT}/state`, (m) => json(m.text).state === 'awaiting_sign_in', 15_000);

  // What the product announces gets through: its device-based discovery config, nothing refused.
  const configs = ['homeassistant/device/test-kiosk/config'];
  for (const topic of configs) assert.equal(json((await discovery.waitFor(topic)).text).availability_topic, `${ROOT}/availability`);

  // The README's example, run as written (host, port, password and device filled in).
  const readme = await readFile(new URL('README.md', ROOT_URL), 'utf8');
  const line = readme.split('\n').find((l) => l.startsWith('mosquitto_rr '));
  assert.ok(line, 'the README has a mosquitto_rr example');
  const args = (line.match(/'[^']*'|\S+/g) ?? []).slice(1).map((a) => a.replace(/^'(.*)'$/, '$1').replaceAll('lobby-1', 'test-kiosk'));
  args.splice(args.indexOf('-h'), 2, '-h', '127.0.0.1', '-p', String(broker.port));
  args.splice(args.indexOf('-P'), 2, '-P', 'pw-operator');
  const { stdout } = await run('mosquitto_rr', [...args, '-W', '10'], { timeout: 20_000 });
  const answer = json(stdout.trim());
  assert.equal(answer.status, 'ok');
  assert.equal((answer.data as { state: string }).state, 'awaiting_sign_in');

  // The operator's foreign response topics: refused by the agent (some would also be stopped by the ACL).
  const operator = await connectAsync(broker.url, { username: 'operator', password: 'pw-operator', protocolVersion: 5 });
  t.after(() => operator.endAsync(true));
  for (const [i, topic] of FOREIGN.slice(0, 7).entries())
    assert.equal((((await status(operator, seen, topic, `acl-${i}`)).error ?? {}) as { code?: string }).code, 'bad_response_topic', topic);
  assert.equal(agent.states().filter((s) => s === 'awaiting_sign_in').length, 1, 'no restart_sign_in or sign_out ran');

  // With the kiosk's own credentials, a client can write its own discovery configs and no other.
  const raw = await connectAsync(broker.url, { username: 'test-kiosk', password: 'pw-kiosk', clientId: 'test-kiosk-raw', protocolVersion: 5 });
  t.after(() => raw.endAsync(true));
  const forged = [
    'homeassistant/device/other-kiosk/config',
    'homeassistant/device/test-kiosk/config/x',
    'homeassistant/device/test-kiosk/other/config',
    'homeassistant/sensor/other-kiosk/sign_in_state/config',
    'homeassistant/button/other-kiosk/sign_out/config',
    'homeassistant/sensor/test-kiosk/anything/config',
    'homeassistant/switch/test-kiosk/sign_out/config',
    'homeassistant/sensor/test-kiosk/sign_in_state/config/x',
  ];
  const payload = JSON.stringify({ name: 'forged', state_topic: 'kiosk/other-kiosk/state', command_topic: 'kiosk/other-kiosk/request/sign_out' });
  for (const topic of forged) await assert.rejects(raw.publishAsync(topic, payload, { qos: 1, retain: true }), /[Nn]ot authori[sz]ed|135/, topic);
  await raw.publishAsync(configs[0]!, payload, { qos: 1 });
  await discovery.waitFor(configs[0]!, (m) => m.text === payload);
  for (const topic of forged) assert.deepEqual(discovery.on(topic), [], `${topic} never reached Home Assistant`);

  // Home Assistant's own account presses the buttons and no more: refresh answers, restart_sign_in is refused.
  const ha = await connectAsync(broker.url, { username: 'homeassistant', password: 'pw-ha', clientId: 'ha-test', protocolVersion: 5 });
  t.after(() => ha.endAsync(true));
  const from = seen.messages.length;
  await ha.publishAsync(`${ROOT}/request/refresh`, '{"transaction":"homeassistant"}', { qos: 1 });
  assert.equal(json((await seen.waitFor(`${ROOT}/response/refresh`, (m) => json(m.text).transaction === 'homeassistant', 10_000, from)).text).status, 'error');
  await assert.rejects(ha.publishAsync(`${ROOT}/request/restart_sign_in`, '{}', { qos: 1 }), /[Nn]ot authori[sz]ed|135/);
  await assert.rejects(ha.publishAsync(`${ROOT}/state`, '{}', { qos: 1, retain: true }), /[Nn]ot authori[sz]ed|135/);
});
