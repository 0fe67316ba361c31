import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { approveNext, startKiosk } from '../helpers/kiosk.js';
import { eventually } from '../helpers/wait.js';
import { eachRound, record, rounds } from './report.js';

const ROOT = 'kiosk/test-kiosk';
const RESTARTS = rounds(20, 8);
/** The restart after which the code is approved: the first ones hit the sign-in, the rest the refreshes. */
const APPROVE_AT = Math.floor(RESTARTS / 4);

test(`broker killed and restarted ${RESTARTS} times while the real agent signs in and refreshes: retained state catches up each time`, async (t) => {
  const kiosk = await startKiosk(t, { env: { KIOSK_REFRESH_CRON: '*/2 * * * * *' } });
  const { idp, agent, broker } = kiosk;
  await agent.waitForState('awaiting_sign_in');
  const agentState = () => agent.states().at(-1);
  /** What a subscriber joining now is told; undefined while the broker is still coming back. */
  const retainedState = async (): Promise<string | undefined> => {
    const text = await broker.retained(`${ROOT}/state`, 300).catch(() => undefined);
    return text ? (JSON.parse(text) as { state: string }).state : undefined;
  };
  let worst = 0;
  const result = await eachRound(RESTARTS, async (i) => {
    if (i === APPROVE_AT) await approveNext(idp); // signs in while the broker comes and goes; refreshes follow every 2 s
    await broker.restart();
    const back = Date.now();
    await eventually(async () => (await retainedState()) === agentState(), 5_000, `retained state after restart ${i + 1}`, 10);
    worst = Math.max(worst, Date.now() - back);
    assert.equal(agent.child.exitCode, null, 'the agent is still running');
    await delay(400);
  });
  await agent.waitForState('signed_in');
  const refreshes = agent.logs().filter((l) => l.event === 'refresh_succeeded').length;
  const scan = await kiosk.scanLeaks();
  record({
    scenario: 'broker restarts during sign-in and refresh',
    rounds: RESTARTS,
    failures: result.failures,
    bytesScanned: scan.bytes,
    leaks: scan.leaks.length,
    note: `worst catch-up ${worst} ms; ${refreshes} refreshes between restarts`,
  });
  assert.deepEqual(result.errors, []);
  assert.deepEqual(scan.leaks, []);
  assert.equal(agentState(), 'signed_in');
  assert.ok(refreshes > 0, 'refreshes ran between the restarts');
});
