import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import mqtt from 'mqtt';
import { approveNext, startKiosk } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

const ROOT = 'kiosk/test-kiosk';
const RESTARTS = 20;

test(`broker killed and restarted ${RESTARTS} times while the real agent signs in and refreshes: retained state catches up each time`, async (t) => {
  const { idp, agent, broker } = await startKiosk(t, { env: { KIOSK_REFRESH_CRON: '*/2 * * * * *' } });
  await agent.waitForState('awaiting_sign_in');
  const agentState = () => agent.states().at(-1);
  /** What a subscriber joining now is told: the retained state, read by a fresh client. */
  const retainedState = async (): Promise<string | undefined> => {
    const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 1_000 }).catch(() => undefined);
    if (!client) return undefined;
    try {
      const first = new Promise<string | undefined>((resolve) => {
        client.on('message', (_topic, payload) => resolve(payload.length ? (JSON.parse(payload.toString()) as { state: string }).state : undefined));
        setTimeout(() => resolve(undefined), 300);
      });
      await client.subscribeAsync(`${ROOT}/state`);
      return await first;
    } finally {
      await client.endAsync(true);
    }
  };
  let worst = 0;
  for (let i = 0; i < RESTARTS; i++) {
    if (i === 5) await approveNext(idp); // signs in while the broker comes and goes; refreshes follow every 2 s
    await broker.restart();
    const back = Date.now();
    await eventually(async () => (await retainedState()) === agentState(), 5_000, `retained state after restart ${i + 1}`, 10);
    worst = Math.max(worst, Date.now() - back);
    assert.equal(agent.child.exitCode, null, 'the agent is still running');
    await delay(400);
  }
  await agent.waitForState('signed_in');
  t.diagnostic(`worst time for the retained state to match the agent after a broker restart: ${worst} ms`);
  assert.ok(worst <= 2_000, `retained state caught up within 2 s after every restart (worst ${worst} ms)`);
  assert.equal(agentState(), 'signed_in');
  assert.ok(agent.logs().some((l) => l.event === 'refresh_succeeded'), 'refreshes ran between the restarts');
});
