import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, launchBrowser, textOf } from './helpers/browser.js';
import { approveNext, command, signedInKiosk, startKiosk } from './helpers/kiosk.js';
import type { Kiosk } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

/** Set to a directory (e.g. docs/images) to keep a screenshot of the kiosk page showing a block. */
const SHOTS = process.env.KIOSK_SCREENSHOT_DIR;

const deviceCodeRequests = async (k: Kiosk): Promise<number> => (await k.idp.requests()).filter((r) => r.endpoint === 'devicecode').length;

interface State {
  state: string;
  since: string;
  retry_at?: string;
  error?: { code: string; message: string };
  account?: { username: string };
}
const stateOf = async (k: Kiosk, match: (s: State) => boolean, from = 0): Promise<State> =>
  JSON.parse((await k.mqtt.waitFor('kiosk/test-kiosk/state', (m) => match(JSON.parse(m.text) as State), 20_000, from)).text) as State;

test('Conditional Access blocks the approved code (AADSTS53003): error with the code and the fix on screen and MQTT; no new code until the slow retry or restart_sign_in', async (t) => {
  const port = await freePort();
  const [k, browser] = await Promise.all([
    startKiosk(t, {
      env: { KIOSK_DISPLAY: 'terminal,web', KIOSK_WEB_PORT: String(port), KIOSK_DEVICE_NAME: 'Lobby screen', KIOSK_LOCATION: 'Reception' },
      before: (p) => p.faults({ conditional_access: 53003 }),
    }),
    launchBrowser(t),
  ]);
  await approveNext(k.idp);
  const blocked = await stateOf(k, (s) => s.state === 'error');
  assert.equal(blocked.error?.code, 'AADSTS53003');
  assert.match(String(blocked.error?.message), /Conditional Access.*exclude this app \(KIOSK_CLIENT_ID\) or this kiosk's location.*"authentication flows"/);
  const window = Date.parse(String(blocked.retry_at)) - Date.parse(blocked.since);
  assert.ok(window >= 299_000, `a slow retry: ${window} ms`);
  await eventually(() => k.agent.stdout().includes('AADSTS53003'), 10_000, 'the code on the terminal');
  assert.match(k.agent.stdout(), /authentication flows/);
  const page = await browser.open(`http://127.0.0.1:${port}/`);
  await eventually(async () => (await textOf(page, 'headline')) === 'AADSTS53003', 10_000, 'the code on the kiosk page');
  assert.match(await textOf(page, 'status'), /Conditional Access/);
  if (SHOTS !== undefined) await writeFile(join(SHOTS, 'web-administrator-block.png'), await page.screenshot());
  const failed = k.agent.logs().find((l) => l.event === 'sign_in_failed');
  assert.equal(failed?.reason, 'AADSTS53003');

  // Inside the retry window the kiosk asks for no code (a code after a block would be one nobody can use).
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  assert.equal(await deviceCodeRequests(k), 1, 'no new device code during the retry window');
  assert.equal((await k.idp.pending()).length, 0);

  // An operator who fixed the policy asks again: exactly one new attempt, at once.
  await k.idp.clearFaults();
  assert.equal((await command(k, 'restart_sign_in')).status, 'ok');
  await eventually(async () => (await deviceCodeRequests(k)) === 2, 10_000, 'one new device-code request');
  await approveNext(k.idp);
  await k.agent.waitForState('signed_in');
  assert.equal(await deviceCodeRequests(k), 2);
});

for (const [code, fix] of [
  [530033, /Conditional Access/],
  [53000, /compliant or joined device/],
  [53001, /domain-joined device/],
  [50097, /device authentication/],
] as const) {
  test(`Conditional Access on the device (AADSTS${code}): error with its code and fix, no loop of codes`, async (t) => {
    const k = await startKiosk(t, { before: (p) => p.faults({ conditional_access: code }) });
    await approveNext(k.idp);
    const blocked = await stateOf(k, (s) => s.state === 'error');
    assert.equal(blocked.error?.code, `AADSTS${code}`);
    assert.match(String(blocked.error?.message), fix);
    await eventually(() => k.agent.stdout().includes(`AADSTS${code}`), 10_000, 'the code on the terminal');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.equal(await deviceCodeRequests(k), 1, 'no new device code');
  });
}

test('Conditional Access on refresh: error with the code and the account kept, never a fresh code', async (t) => {
  const k = await signedInKiosk(t);
  await k.idp.faults({ conditional_access: 53003 });
  const from = k.mqtt.messages.length;
  assert.equal((await command(k, 'refresh')).status, 'error');
  const blocked = await stateOf(k, (s) => s.state === 'error', from);
  assert.equal(blocked.error?.code, 'AADSTS53003');
  assert.equal(blocked.account?.username, 'alice@example.test', 'whose sign-in was blocked');
  assert.equal(k.agent.logs().find((l) => l.event === 'refresh_failed')?.reason, 'AADSTS53003');
  assert.ok(!k.agent.logs().some((l) => l.event === 'signed_out'), 'not signed out');
  assert.equal(await deviceCodeRequests(k), 1, 'no fresh code');
  // The operator may still sign the blocked account out.
  await k.idp.clearFaults();
  assert.equal((await command(k, 'sign_out')).status, 'ok');
  await eventually(async () => (await deviceCodeRequests(k)) === 2, 10_000, 'a fresh code after the sign-out');
});

test('a refresh token expired by inactivity (AADSTS700082): a fresh code, and signed_out says why', async (t) => {
  const k = await signedInKiosk(t);
  await k.idp.faults({ invalid_grant_aadsts: 700082, invalid_grant_next: 1 });
  await command(k, 'refresh');
  await k.agent.waitForState('awaiting_sign_in', 15_000, 1);
  const signedOut = k.agent.logs().find((l) => l.event === 'signed_out');
  assert.equal(signedOut?.reason, 'AADSTS700082');
  const event = await k.mqtt.waitFor('kiosk/test-kiosk/events', (m) => m.text.includes('"signed_out"'));
  assert.equal((JSON.parse(event.text) as { reason?: string }).reason, 'AADSTS700082');
  assert.equal((await k.mqtt.waitFor('kiosk/test-kiosk/claims', (m) => m.text === '')).text, '', 'claims cleared');
  await approveNext(k.idp);
  await k.agent.waitForState('signed_in', 15_000, 1);
});
