import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { connectAsync } from 'mqtt';
import { startBroker } from './helpers/broker.js';
import { readEnvFile } from './helpers/container.js';

/**
 * deploy/make-devices.sh against a real Mosquitto with the accounts and ACL it writes: Home Assistant's
 * account reads discovery and presses only the buttons, and `--remove --broker` clears what a removed device
 * left retained (its state and its Home Assistant discovery configs), so no ghost device stays.
 */
const ROOT = new URL('..', import.meta.url).pathname;
const run = promisify(execFile);
const SCRIPT = join(ROOT, 'deploy/make-devices.sh');

test('make-devices.sh: a Home Assistant account in the ACL; --remove --broker publishes the empty retained configs of the device and takes it out', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'kiosk-site-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  await run('bash', [SCRIPT, '-o', out, 'kiosk-a', 'kiosk-b']);
  const password = async (id: string): Promise<string> => (await readFile(join(out, 'devices', id, 'mqtt-password'), 'utf8')).trim();
  const operator = await readEnvFile(join(out, 'operator.env'));
  const ha = await readEnvFile(join(out, 'homeassistant.env'));
  assert.equal(ha.MQTT_HA_USERNAME, 'homeassistant');
  const users = {
    'kiosk-a': await password('kiosk-a'),
    'kiosk-b': await password('kiosk-b'),
    [operator.MQTT_OPERATOR_USERNAME!]: operator.MQTT_OPERATOR_PASSWORD!,
    [ha.MQTT_HA_USERNAME]: ha.MQTT_HA_PASSWORD!,
  };
  const broker = await startBroker({ users, acl: await readFile(join(out, 'broker/acl'), 'utf8'), observer: { username: 'homeassistant', password: ha.MQTT_HA_PASSWORD! } });
  t.after(() => broker.dispose());

  // What kiosk-a leaves retained, published with its own account as the agent does.
  const retainedTopics = ['kiosk/kiosk-a/availability', 'kiosk/kiosk-a/state', 'kiosk/kiosk-a/claims', 'homeassistant/device/kiosk-a/config'];
  const kiosk = await connectAsync(broker.url, { username: 'kiosk-a', password: users['kiosk-a'], protocolVersion: 5 });
  for (const topic of retainedTopics) await kiosk.publishAsync(topic, topic.endsWith('claims') ? '{"name":"A"}' : '{"x":1}', { qos: 1, retain: true });
  await kiosk.publishAsync('homeassistant/sensor/kiosk-a/sign_in_state/config', '{"name":"old"}', { qos: 1, retain: true });
  await kiosk.endAsync();
  const seen = await broker.observe({ filter: ['homeassistant/#', 'kiosk/#'], options: { username: 'homeassistant', password: ha.MQTT_HA_PASSWORD! } });
  await seen.waitFor('homeassistant/device/kiosk-a/config');
  // Home Assistant's account reads the kiosk's state (a retained message arrived) and presses only the buttons.
  assert.ok(seen.on('kiosk/kiosk-a/state').length > 0);
  const homeAssistant = await connectAsync(broker.url, { username: 'homeassistant', password: ha.MQTT_HA_PASSWORD!, protocolVersion: 5 });
  t.after(() => homeAssistant.endAsync(true));
  await homeAssistant.publishAsync('kiosk/kiosk-a/request/refresh', '{}', { qos: 1 });
  await assert.rejects(homeAssistant.publishAsync('kiosk/kiosk-a/request/restart_sign_in', '{}', { qos: 1 }), /[Nn]ot authori[sz]ed|135/);
  await assert.rejects(homeAssistant.publishAsync('homeassistant/device/kiosk-a/config', '', { qos: 1, retain: true }), /[Nn]ot authori[sz]ed|135/);

  const from = seen.messages.length;
  const removed = await run('bash', [SCRIPT, '-o', out, '--remove', 'kiosk-a', '--broker', broker.url]);
  assert.match(removed.stderr, /cleared the retained topics of kiosk-a/);
  const cleared = ['homeassistant/device/kiosk-a/config', 'homeassistant/sensor/kiosk-a/sign_in_state/config', ...retainedTopics.slice(0, 3)];
  for (const topic of cleared) assert.equal((await seen.waitFor(topic, (m) => m.payload.length === 0, 5_000, from)).payload.length, 0, `${topic}: an empty message`);
  for (const topic of cleared) assert.equal(await broker.retained(topic, 300), undefined, `${topic} is no longer retained`);
  assert.ok(!existsSync(join(out, 'devices/kiosk-a')), 'the device is out of the site');
  assert.ok(existsSync(join(out, 'devices/kiosk-b')));
  assert.doesNotMatch(await readFile(join(out, 'broker/passwd'), 'utf8'), /^kiosk-a:/m, 'its account is gone');

  // A broker that cannot be reached keeps the device, and says so.
  const failed = await run('bash', [SCRIPT, '-o', out, '--remove', 'kiosk-b', '--broker', 'mqtt://127.0.0.1:9']).then(() => undefined, (e: { code: number; stderr: string }) => e);
  assert.ok(failed !== undefined && failed.code === 1, 'exit 1');
  assert.match(failed.stderr, /could not clear kiosk\/kiosk-b\/availability.*kiosk-b is kept/);
  assert.ok(existsSync(join(out, 'devices/kiosk-b')));
});
