import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort } from './helpers/browser.js';
import { approveNext, command, startKiosk } from './helpers/kiosk.js';
import type { Kiosk } from './helpers/kiosk.js';
import { berlinClock } from './helpers/time-zone.js';
import { eventually } from './helpers/wait.js';

/** Every four seconds: a shift that ends while the test watches. */
const EVERY_FEW_SECONDS = '*/4 * * * * *';
const NOBODY = 'sign-out due (KIOSK_SIGN_OUT_CRON); nobody is signed in, nothing to do';

const signedOuts = (k: Kiosk) => k.agent.logs().filter((l) => l.event === 'signed_out');
const devicecodeRequests = async (k: Kiosk): Promise<number> => (await k.idp.requests()).filter((r) => r.endpoint === 'devicecode').length;

/** What the kiosk page serves now, as its script reads it. */
async function pageState(port: number): Promise<{ state: string; headline: string; userCode?: string; status: string }> {
  return (await (await fetch(`http://127.0.0.1:${port}/state.json`)).json()) as { state: string; headline: string; userCode?: string; status: string };
}

test('KIOSK_SIGN_OUT_CRON: at each time a signed-in kiosk signs out (reason schedule) and shows a fresh code; with nobody signed in nothing happens', async (t) => {
  const port = await freePort();
  const k = await startKiosk(t, { env: { KIOSK_SIGN_OUT_CRON: EVERY_FEW_SECONDS, KIOSK_DISPLAY: 'terminal,web', KIOSK_WEB_PORT: String(port) } });
  const [first] = await k.idp.waitForPending();
  assert.ok(first);
  // A time comes while the code is on screen: no sign-out, no event, the same code stays.
  await k.agent.waitForLog((l) => l.msg === NOBODY, 15_000, 'a sign-out time with nobody signed in');
  assert.equal(signedOuts(k).length, 0);
  assert.equal(await devicecodeRequests(k), 1, 'the code on screen was not replaced');

  await k.idp.approve(first.user_code, 'alice');
  await k.agent.waitForState('signed_in');
  const event = await k.mqtt.waitFor('kiosk/test-kiosk/events', (m) => m.text.includes('"signed_out"'), 15_000);
  assert.equal((JSON.parse(event.text) as { reason: string }).reason, 'schedule');
  const [fresh] = await k.idp.waitForPending((c) => c.user_code !== first.user_code);
  assert.ok(fresh, 'a fresh code after the sign-out');
  await eventually(async () => (await pageState(port)).userCode === fresh.user_code, 10_000, 'the fresh code on the kiosk page');
  assert.equal((await k.broker.retained('kiosk/test-kiosk/claims'))?.length ?? 0, 0, 'the claims were cleared');
  assert.ok(k.agent.logs().some((l) => l.msg === 'signed out on schedule (KIOSK_SIGN_OUT_CRON)'));

  // The next time finds nobody signed in again: still one sign-out, still the fresh code.
  const seen = k.agent.logs().filter((l) => l.msg === NOBODY).length;
  await k.agent.waitForLog((l) => l.msg === NOBODY && k.agent.logs().filter((x) => x.msg === NOBODY).length > seen, 15_000, 'the next sign-out time');
  assert.equal(signedOuts(k).length, 1);
  assert.equal((await pageState(port)).userCode, fresh.user_code);
});

test('KIOSK_SIGN_OUT_CRON with KIOSK_SIGN_IN=on_request: the end of a shift leaves "Not signed in" and asks for no code', async (t) => {
  const k = await startKiosk(t, { env: { KIOSK_SIGN_OUT_CRON: EVERY_FEW_SECONDS, KIOSK_SIGN_IN: 'on_request' } });
  await k.mqtt.waitFor('kiosk/test-kiosk/state', (m) => m.text.includes('Not signed in'), 15_000);
  assert.equal((await command(k, 'restart_sign_in')).status, 'ok');
  await approveNext(k.idp, 'bob');
  await k.agent.waitForState('signed_in');
  await k.agent.waitForLog((l) => l.event === 'signed_out' && l.reason === 'schedule', 15_000, 'the scheduled sign-out');
  const idle = await k.agent.waitForState('awaiting_sign_in', 10_000, 2); // after "Not signed in" and the code
  assert.match(String(idle.detail), /Not signed in/);
  await eventually(() => k.agent.stdout().split('\n\n').at(-2)?.includes('Not signed in') === true, 10_000, '"Not signed in" on the terminal');
  await k.agent.waitForLog((l) => l.msg === NOBODY && Date.parse(String(l.time)) > Date.parse(String(idle.time)), 15_000, 'a later sign-out time');
  assert.equal(await devicecodeRequests(k), 1, 'no code asked for after the sign-out');
  assert.equal(signedOuts(k).length, 1);
});

test('TZ=Europe/Berlin: the displays show Berlin time with its zone; MQTT stays UTC', async (t) => {
  const port = await freePort();
  const k = await startKiosk(t, { env: { TZ: 'Europe/Berlin', KIOSK_DISPLAY: 'terminal,web', KIOSK_WEB_PORT: String(port) } });
  const [pending] = await k.idp.waitForPending();
  assert.ok(pending);
  const expiresAt = Date.parse(pending.expires_at);
  await eventually(() => k.agent.stdout().includes(`expires at ${berlinClock(expiresAt)}`), 10_000, `"expires at ${berlinClock(expiresAt)}" on the terminal`);
  await k.idp.approve(pending.user_code);
  const state = JSON.parse((await k.mqtt.waitFor('kiosk/test-kiosk/state', (m) => m.text.includes('"signed_in"'), 15_000)).text) as {
    next_refresh_at: string; since: string;
  };
  assert.match(state.next_refresh_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'MQTT times are UTC');
  assert.match(state.since, /Z$/);
  const next = `Next refresh ${berlinClock(Date.parse(state.next_refresh_at))}`;
  await eventually(async () => (await pageState(port)).status.includes(next), 10_000, `"${next}" on the kiosk page`);
  await eventually(() => k.agent.stdout().includes(next), 10_000, `"${next}" on the terminal`);
  assert.ok(!k.agent.stdout().includes('UTC'), 'no UTC time on the terminal');
});
