import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { approveNext, startKiosk } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

const ROOT = 'kiosk/test-kiosk';
const json = (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>;

test('the real agent over MQTT: retained truth for late subscribers, the same code as the display, claims after sign-in', async (t) => {
  const { idp, agent, broker, mqtt: seen } = await startKiosk(t);
  const awaiting = await seen.waitFor(`${ROOT}/state`, (m) => json(m.text).state === 'awaiting_sign_in', 15_000);
  const payload = json(awaiting.text);
  const [pending] = await idp.waitForPending();
  assert.equal(payload.user_code, pending?.user_code, 'MQTT carries the code the provider issued');
  await eventually(() => agent.stdout().includes(String(payload.user_code)), 5_000, 'the same code on the display');
  assert.equal(payload.verification_uri, idp.verificationUri);
  assert.deepEqual(payload.agent, { version: '0.1.0', device_id: 'test-kiosk', name: 'test-kiosk' }, 'the kiosk names itself by its device id unless KIOSK_DEVICE_NAME says otherwise');

  await approveNext(idp, 'bob');
  await seen.waitFor(`${ROOT}/state`, (m) => json(m.text).state === 'signed_in', 15_000);
  const claims = await seen.waitFor(`${ROOT}/claims`, (m) => m.text !== '', 5_000);
  assert.equal(json(claims.text).name, 'Bob Example');
  assert.deepEqual(Object.keys(json(claims.text)).sort(), ['email', 'name', 'oid', 'preferred_username', 'tid']);

  const late = await broker.observe({ filter: `${ROOT}/#` });
  t.after(() => late.close());
  const retained = await late.waitFor(`${ROOT}/availability`);
  assert.equal(retained.text, 'online');
  assert.equal(retained.retain, true, 'a late subscriber gets retained messages');
  assert.equal(json((await late.waitFor(`${ROOT}/state`)).text).state, 'signed_in');
  assert.equal(json((await late.waitFor(`${ROOT}/claims`)).text).preferred_username, 'bob@example.test');
  assert.ok(seen.on(`${ROOT}/events`).some((m) => json(m.text).event === 'sign_in_succeeded'));

  assert.equal(await agent.stop('SIGTERM'), 0);
  const states = seen.on(`${ROOT}/state`).map((m) => json(m.text).state);
  assert.equal(states.at(-1), 'stopped');
  assert.equal(seen.last(`${ROOT}/availability`)?.text, 'offline');
});

test('kill -9 of the agent: the broker publishes offline from the Last Will', async (t) => {
  const { agent, mqtt: seen } = await startKiosk(t);
  await seen.waitFor(`${ROOT}/availability`, (m) => m.text === 'online', 15_000);
  await agent.stop('SIGKILL');
  await seen.waitFor(`${ROOT}/availability`, (m) => m.text === 'offline', 10_000);
});

test('operator commands reach the real agent: refresh, then sign out to a fresh code', async (t) => {
  const { idp, agent, broker, mqtt: seen } = await startKiosk(t);
  await agent.waitForState('awaiting_sign_in');
  await approveNext(idp);
  await agent.waitForState('signed_in');
  const operator = await mqtt.connectAsync(broker.url);
  t.after(() => operator.endAsync(true));

  await operator.publishAsync(`${ROOT}/request/refresh`, JSON.stringify({ transaction: 'r-1' }), { qos: 1 });
  const refreshed = json((await seen.waitFor(`${ROOT}/response/refresh`, undefined, 10_000)).text);
  assert.deepEqual({ status: refreshed.status, transaction: refreshed.transaction }, { status: 'ok', transaction: 'r-1' });
  assert.ok((await idp.requests()).some((r) => r.grant_type === 'refresh_token'), 'the provider saw the refresh');

  await operator.publishAsync(`${ROOT}/request/sign_out`, JSON.stringify({ transaction: 's-1' }), { qos: 1 });
  assert.equal(json((await seen.waitFor(`${ROOT}/response/sign_out`, undefined, 10_000)).text).status, 'ok');
  await seen.waitFor(`${ROOT}/claims`, (m) => m.text === '', 10_000);
  await agent.waitForState('awaiting_sign_in', 10_000, 1);
  assert.ok(seen.on(`${ROOT}/events`).some((m) => json(m.text).event === 'signed_out'));

  await operator.publishAsync(`${ROOT}/request/refresh`, 'not json', { qos: 1 });
  const refused = json((await seen.waitFor(`${ROOT}/response/refresh`, (m) => json(m.text).status === 'error', 10_000)).text);
  assert.equal((refused.error as { code: string }).code, 'bad_json');
  assert.equal(agent.child.exitCode, null, 'the agent is unharmed');
});
