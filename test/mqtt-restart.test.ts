import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { statePayload } from '../src/mqtt/payloads.js';
import { MqttPublisher } from '../src/mqtt/publisher.js';
import { Machine } from '../src/state.js';
import type { Snapshot } from '../src/state.js';
import { startBroker } from './helpers/broker.js';

const RESTARTS = 20;
/** How long a fresh subscriber waits for the right state: the reconnect period (1 s) plus margin. Speed itself is the bench's job. */
const WAIT_MS = 3_000;

/** A sign-in and refresh cycle: each step is a legal transition from the one before. */
function step(machine: Machine, i: number): Snapshot {
  const account = { username: 'ada@example.test', name: 'Ada' };
  switch (i % 4) {
    case 0:
      return machine.go('awaiting_sign_in', { userCode: `CODE-${i}`, verificationUri: 'https://login.example.test/device', expiresAt: Date.now() + 900_000 });
    case 1:
      machine.setClaims({ name: 'Ada', step: i });
      return machine.go('signed_in', { account, tokenExpiresAt: Date.now() + 3_600_000 + i });
    case 2:
      return machine.amend({ nextRefreshAt: Date.now() + 900_000 + i, detail: `refresh ${i}` });
    default:
      machine.setClaims(undefined);
      return machine.go('offline', { detail: `network ${i}`, retryAt: Date.now() + 5_000 + i });
  }
}

test(`broker killed and restarted ${RESTARTS} times: the retained state is the machine's after every restart`, async (t) => {
  const broker = await startBroker();
  t.after(() => broker.dispose());
  const config = loadConfig({ env: { KIOSK_CLIENT_ID: 'c', KIOSK_AUTHORITY: 'https://login.example.test/t/', KIOSK_DEVICE_ID: 'r1', KIOSK_MQTT_URL: broker.url } }).config;
  const machine = new Machine(systemClock);
  const errors: unknown[] = [];
  machine.on('listenerError', (e) => errors.push(e));
  const ops = { refresh: async () => 'ok', signOut: async () => undefined, restartSignIn: () => undefined };
  // Production timings: reconnect every second.
  const publisher = new MqttPublisher({ config, machine, operations: ops, log: createLogger('silent'), version: 't' });
  t.after(() => publisher.stop());
  await publisher.start();
  const live = await broker.observe();
  await live.waitFor('kiosk/r1/availability', (m) => m.text === 'online');
  const agent = { version: 't', deviceId: 'r1', name: config.deviceName };
  const times: number[] = [];
  let n = -1;
  for (let round = 0; round < RESTARTS; round += 1) {
    // Changes while connected, then the broker dies (unsaved), the machine carries on, the broker returns.
    step(machine, (n += 1));
    await sleep(round % 3 === 0 ? 0 : 20);
    await broker.kill();
    const skipped = [step(machine, (n += 1)), step(machine, (n += 1))].slice(0, round % 2 === 0 ? 1 : 2);
    await broker.restart();
    const restartedAt = Date.now();
    const from = live.messages.length;
    if (round % 5 === 4) step(machine, (n += 1)); // a change while the kiosk is still reconnecting
    const want = JSON.stringify(statePayload(machine.snapshot, agent));
    const fresh = await broker.observe();
    await fresh.waitFor('kiosk/r1/state', (m) => m.text === want, WAIT_MS);
    times.push(Date.now() - restartedAt);
    await fresh.waitFor('kiosk/r1/availability', (m) => m.text === 'online');
    const claims = machine.claims === undefined ? '' : JSON.stringify(machine.claims);
    await fresh.waitFor('kiosk/r1/claims', (m) => m.text === claims, 1_000).catch(() => {
      if (claims !== '') throw new Error(`round ${round}: claims not republished`);
    });
    await fresh.close();
    const stale = new Set(skipped.map((s) => JSON.stringify(statePayload(s, agent))).filter((s) => s !== want));
    const after = live.messages.slice(from).filter((m) => m.topic === 'kiosk/r1/state');
    assert.ok(!after.some((m) => stale.has(m.text)), `round ${round}: a state from while the broker was down was replayed`);
    assert.equal(after.at(-1)?.text ?? want, want);
  }
  const worst = Math.max(...times);
  const mean = Math.round(times.reduce((a, b) => a + b, 0) / times.length);
  t.diagnostic(`retained state correct after restart: worst ${worst} ms, mean ${mean} ms, over ${RESTARTS} restarts`);
  assert.deepEqual(errors, []);
  assert.equal(publisher.mqttStatus(), 'connected');
});
