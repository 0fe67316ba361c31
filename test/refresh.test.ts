import assert from 'node:assert/strict';
import { test } from 'node:test';
import { approveNext, command, signedInKiosk, startKiosk } from './helpers/kiosk.js';
import type { TestIdp } from './helpers/idp.js';
import { eventually } from './helpers/wait.js';

const refreshes = async (idp: TestIdp, since = 0) =>
  (await idp.requests()).filter((r) => r.endpoint === 'token' && r.grant_type === 'refresh_token' && r.at >= since);

const countEvents = (logs: Array<{ event?: string }>, event: string) => logs.filter((l) => l.event === event).length;

test('refresh runs on the cron schedule', async (t) => {
  const { idp, agent } = await signedInKiosk(t, { env: { KIOSK_REFRESH_CRON: '*/2 * * * * *' } });
  await agent.waitForLog(() => countEvents(agent.logs(), 'refresh_succeeded') >= 2, 15_000, 'two scheduled refreshes');
  assert.ok((await refreshes(idp)).length >= 2, 'the provider saw refresh-token grants');
  assert.deepEqual([...new Set(agent.states())], ['awaiting_sign_in', 'signed_in']);
});

test('refresh runs ahead of access-token expiry even when the schedule is far away', async (t) => {
  const { idp, agent } = await startKiosk(t, {
    env: { KIOSK_REFRESH_CRON: '0 0 1 1 *' },
    before: (p) => p.faults({ access_token_expires_in: 10 }),
  });
  await agent.waitForState('awaiting_sign_in');
  await approveNext(idp);
  const signedIn = await agent.waitForState('signed_in');
  const refreshed = await agent.waitForLog((l) => l.event === 'refresh_succeeded', 20_000, 'a refresh before expiry');
  const [grant] = await refreshes(idp);
  assert.ok(grant, 'a refresh-token grant reached the provider');
  const tokenLifetimeMs = 10_000;
  assert.ok(Number(refreshed.at) - Date.parse(String(signedIn.time)) < tokenLifetimeMs, 'refreshed before the token expired');
});

test('a refresh already running is never started twice', async (t) => {
  const { idp, agent } = await signedInKiosk(t, { env: { KIOSK_REFRESH_CRON: '* * * * * *' } });
  await idp.faults({ delay_ms: 1_500 }); // under KIOSK_HTTP_TIMEOUT (2 s)
  const slowFrom = Date.now();
  await agent.waitForLog(() => countEvents(agent.logs(), 'refresh_succeeded') >= 3, 20_000, 'three slow refreshes');
  await idp.faults({ delay_ms: 0 });
  const grants = await refreshes(idp, slowFrom);
  for (let i = 1; i < grants.length; i++) {
    const gap = grants[i]!.at - grants[i - 1]!.at;
    assert.ok(gap >= 1_450, `refresh #${i + 1} started ${gap} ms after the previous one, which was still waiting for its answer`);
  }
});

test('a revoked refresh token leads to a new device code; signed_out carries Entra\'s code', async (t) => {
  const { idp, agent } = await signedInKiosk(t, { env: { KIOSK_REFRESH_CRON: '*/2 * * * * *' } });
  await idp.faults({ revoke_refresh_tokens: true });
  await agent.waitForState('awaiting_sign_in', 15_000, 1);
  const failed = agent.logs().find((l) => l.event === 'refresh_failed');
  assert.equal(failed?.reason, 'AADSTS50173', 'the provider\'s code for a revoked grant');
  const signedOut = agent.logs().find((l) => l.event === 'signed_out');
  assert.equal(signedOut?.reason, 'AADSTS50173');
  await approveNext(idp);
  await agent.waitForState('signed_in', 15_000, 1);
});

test('a provider failure while signed in keeps signed_in and retries', async (t) => {
  const { idp, agent } = await signedInKiosk(t, { env: { KIOSK_REFRESH_CRON: '*/3 * * * * *' } });
  await idp.faults({ fail_next: 3, fail_status: 503, fail_endpoints: ['token'] });
  await agent.waitForLog((l) => l.event === 'refresh_failed', 15_000, 'a failed refresh');
  await agent.waitForLog((l) => l.event === 'refresh_succeeded', 30_000, 'a refresh after the provider recovered');
  const states = agent.states();
  assert.deepEqual(states.slice(states.indexOf('signed_in')).filter((s) => s !== 'signed_in'), [], `stayed signed in: ${states.join(' → ')}`);
});

test('an operator refresh during a refresh backoff tries again at once and answers with that attempt', async (t) => {
  const kiosk = await startKiosk(t, { env: { KIOSK_REFRESH_CRON: '0 0 1 1 *' } });
  const { idp, agent } = kiosk;
  await agent.waitForState('awaiting_sign_in');
  await approveNext(idp);
  await agent.waitForState('signed_in');
  // Four failures in a row: the backoff before the fifth attempt is about 8 s.
  await idp.faults({ fail_next: 4, fail_status: 503, fail_endpoints: ['token'] });
  assert.equal((await command(kiosk, 'refresh', 20_000)).status, 'error');
  await agent.waitForLog(() => countEvents(agent.logs(), 'refresh_failed') >= 4, 20_000, 'four failed attempts');
  const retryAfterFourth = (): number | undefined => {
    const logs = agent.logs();
    const fourth = logs.findIndex((l, i) => l.event === 'refresh_failed' && countEvents(logs.slice(0, i + 1), 'refresh_failed') === 4);
    const line = logs.slice(fourth).find((l) => l.msg === 'state' && typeof l.retry_at === 'string');
    return line === undefined ? undefined : Date.parse(String(line.retry_at));
  };
  await agent.waitForLog(() => retryAfterFourth() !== undefined, 5_000, 'the time of the fifth attempt');
  const retryAt = retryAfterFourth()!;

  assert.equal((await command(kiosk, 'refresh', 20_000)).status, 'ok', 'the joined refresh answers with a fresh attempt, not the stale failure');
  const grants = await refreshes(idp);
  assert.equal(grants.filter((g) => g.status === 200).length, 1, 'one successful refresh');
  assert.ok(grants.at(-1)!.at < retryAt, 'it ran before the backoff would have let it');
  assert.equal(grants.length, 5, 'four failures and the one asked for: nothing doubled');
});

test('a kiosk restored signed in shows and publishes the cron\'s next refresh, which comes before the ahead-of-expiry one', async (t) => {
  // The refresh cron starts after the first frame; a sign-in restored before it is amended, before MQTT publishes.
  const k = await signedInKiosk(t, { env: { KIOSK_REFRESH_CRON: '*/15 * * * *' } });
  await k.agent.stop('SIGTERM');
  const from = k.mqtt.messages.length;
  const rebooted = await k.reboot();
  await rebooted.waitForState('signed_in');
  const published = await k.mqtt.waitFor('kiosk/test-kiosk/state', (m) => m.text.includes('"signed_in"'), 10_000, from);
  const state = JSON.parse(published.text) as { since: string; next_refresh_at: string; token_expires_at: string };
  const next = Date.parse(state.next_refresh_at);
  const quarter = 15 * 60_000;
  assert.equal(next % quarter, 0, `${state.next_refresh_at} is a quarter hour`);
  assert.ok(next > Date.parse(state.since) && next <= Date.parse(state.since) + quarter, `${state.next_refresh_at} is the next quarter hour after ${state.since}`);
  assert.ok(next < Date.parse(state.token_expires_at) - 5 * 60_000, 'the cron comes before the ahead-of-expiry refresh');
  const times = k.mqtt.messages.slice(from).filter((m) => m.topic === 'kiosk/test-kiosk/state' && m.text.includes('"signed_in"'));
  assert.deepEqual([...new Set(times.map((m) => (JSON.parse(m.text) as { next_refresh_at: string }).next_refresh_at))], [state.next_refresh_at], 'MQTT never saw another next refresh');
  const clock = new Date(next).toISOString().slice(11, 16);
  await eventually(() => rebooted.stdout().includes(`Next refresh ${clock}`), 5_000, `"Next refresh ${clock}" on screen`);
});
