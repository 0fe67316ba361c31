import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { freePort, launchBrowser, qrLoaded, textOf } from './helpers/browser.js';
import { pageToken, rawRequest } from './helpers/http.js';
import { approveNext, startKiosk } from './helpers/kiosk.js';
import type { Kiosk } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

/** Set to a directory (e.g. docs/images) to keep the screenshots of the real page. */
const SHOTS = process.env.KIOSK_SCREENSHOT_DIR;

async function webKiosk(t: Parameters<typeof startKiosk>[0], env: Record<string, string>) {
  const port = await freePort();
  const [kiosk, browser] = await Promise.all([
    startKiosk(t, { env: { KIOSK_DISPLAY: 'terminal,web', KIOSK_WEB_PORT: String(port), ...env } }),
    launchBrowser(t),
  ]);
  await kiosk.agent.waitForLog((l) => l.msg === 'kiosk page listening', 20_000, 'the kiosk page');
  return { kiosk, browser, port, url: `http://127.0.0.1:${port}/` };
}

/** The retained claims the kiosk published: what the page must show, no more. */
async function publishedClaims(k: Kiosk): Promise<Record<string, string>> {
  const m = await k.mqtt.waitFor('kiosk/test-kiosk/claims', (x) => x.text.includes('preferred_username'));
  return JSON.parse(m.text) as Record<string, string>;
}

/** The "who is signed in" panel as label → value. */
async function whoIs(page: Page): Promise<Record<string, string>> {
  const labels = await page.locator('#who dt').allInnerTexts();
  const values = await page.locator('#who dd').allInnerTexts();
  return Object.fromEntries(labels.map((l, i) => [l, values[i] ?? '']));
}

const signedOutEvents = (k: Kiosk) => k.agent.logs().filter((l) => l.event === 'signed_out');

async function assertTouchable(page: Page, name: string): Promise<void> {
  const box = await page.getByRole('button', { name, exact: true }).boundingBox();
  assert.ok(box !== null, `${name} is on screen`);
  assert.ok(box.width >= 48 && box.height >= 48, `${name} is ${box.width}x${box.height} px, at least 48x48`);
  const viewport = page.viewportSize()!;
  assert.ok(box.x >= 0 && box.y >= 0 && box.x + box.width <= viewport.width && box.y + box.height <= viewport.height, `${name} lies within the screen`);
}

test('signed in: who is signed in from the verified claims; Sign out by its name, confirmed, gives a fresh code without a reload', async (t) => {
  const { kiosk, browser, url } = await webKiosk(t, { KIOSK_WEB_SIGN_OUT: 'true' });
  const first = await approveNext(kiosk.idp, 'alice');
  await kiosk.agent.waitForState('signed_in');
  const page = await browser.open(url);
  let loads = 0;
  page.on('load', () => (loads += 1));
  await eventually(async () => (await textOf(page, 'headline')) === 'Signed in as Alice Example', 15_000, 'the signed-in view');

  const claims = await publishedClaims(kiosk);
  assert.deepEqual(await whoIs(page), {
    Username: claims.preferred_username, Email: claims.email, 'Object ID': claims.oid, 'Tenant ID': claims.tid,
  }, 'the panel shows the published (verified, allowed) claims, the name as the headline');
  assert.equal(claims.preferred_username, 'alice@example.test');
  assert.equal(await page.getByRole('definition').count(), 4);
  await assertTouchable(page, 'Sign out');
  if (SHOTS !== undefined) await writeFile(join(SHOTS, 'web-who-is-signed-in.png'), await page.screenshot());

  // The confirm step: nothing happens until it is confirmed; Cancel and Escape go back.
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  const dialog = page.getByRole('alertdialog', { name: 'Sign out Alice Example?' });
  assert.ok(await dialog.isVisible(), 'a confirm step that names the account');
  assert.equal(await page.getByRole('button', { name: 'Sign out', exact: true }).count(), 0, 'the first button gives way to the confirm step');
  await assertTouchable(page, 'Yes, sign out');
  await assertTouchable(page, 'Cancel');
  assert.equal(await page.evaluate('document.activeElement.textContent'), 'Cancel', 'focus on the harmless choice');
  if (SHOTS !== undefined) await writeFile(join(SHOTS, 'web-sign-out-confirm.png'), await page.screenshot());
  await page.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await dialog.isVisible(), false);
  assert.equal(await page.evaluate('document.activeElement.textContent'), 'Sign out', 'focus back on Sign out');
  await page.keyboard.press('Enter');
  assert.ok(await dialog.isVisible(), 'the keyboard opens it too');
  await page.keyboard.press('Escape');
  assert.equal(await dialog.isVisible(), false, 'Escape cancels');
  assert.equal(signedOutEvents(kiosk).length, 0, 'still signed in');

  // By keyboard to the end: Enter on Sign out, back from Cancel to "Yes, sign out", Enter.
  await page.getByRole('button', { name: 'Sign out', exact: true }).focus();
  await page.keyboard.press('Enter');
  await page.keyboard.press('Shift+Tab');
  assert.equal(await page.evaluate('document.activeElement.textContent'), 'Yes, sign out');
  await page.keyboard.press('Enter');
  const [fresh] = await kiosk.idp.waitForPending((c) => c.user_code !== first);
  assert.ok(fresh);
  await eventually(async () => (await textOf(page, 'code')) === fresh.user_code, 15_000, 'a fresh code on the page');
  await qrLoaded(page);
  assert.equal(await browser.decodeQr(await page.screenshot()), fresh.verification_uri_complete, 'its QR reads');
  assert.equal(await page.locator('#who').isVisible(), false, 'nobody named any more');
  assert.equal(await page.getByRole('button', { name: 'Sign out', exact: true }).count(), 0);
  assert.equal(loads, 0, 'the page was not reloaded');
  const [signedOut] = signedOutEvents(kiosk);
  assert.equal(signedOut?.reason, 'kiosk_page');
  await kiosk.mqtt.waitFor('kiosk/test-kiosk/events', (m) => m.text.includes('"signed_out"') && m.text.includes('"reason":"kiosk_page"'));
  assert.equal((await kiosk.broker.retained('kiosk/test-kiosk/claims'))?.length ?? 0, 0, 'the claims were cleared');
});

test('forged sign-outs (no token, wrong token, a foreign Origin, Origin: null, a form on another site) get 403 and change nothing', async (t) => {
  const { kiosk, browser, url, port } = await webKiosk(t, { KIOSK_WEB_SIGN_OUT: 'true' });
  await approveNext(kiosk.idp, 'bob');
  await kiosk.agent.waitForState('signed_in');
  const token = await pageToken(port);
  assert.ok(token);
  const own = `http://127.0.0.1:${port}`;
  const forged: Array<[string, Record<string, string>, string]> = [
    ['no token', { origin: own }, ''],
    ['a wrong token', { origin: own }, `csrf=${'A'.repeat(43)}`],
    ['a foreign Origin', { origin: 'http://evil.example' }, `csrf=${token}`],
    ['Origin: null', { origin: 'null' }, `csrf=${token}`],
  ];
  for (const [what, headers, body] of forged) {
    const r = await rawRequest(port, '/sign-out', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
    assert.equal(r.status, 403, what);
  }

  // A page on another site, in the same browser, posting to the kiosk as CSRF does: a form, and a blind fetch.
  const evil = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><form id="f" method="post" action="${own}/sign-out"><input name="csrf" value="guess"></form>
<script>fetch("${own}/sign-out",{method:"POST",mode:"no-cors",body:new URLSearchParams({csrf:"guess"})}).finally(()=>document.getElementById("f").submit())</script>`);
  });
  await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => evil.close(resolve)));
  const attacker = await browser.open(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
  await attacker.waitForURL(`${own}/sign-out`, { timeout: 10_000 });
  assert.match(await attacker.locator('body').innerText(), /forbidden/, 'the browser shows the kiosk\'s refusal');
  await kiosk.agent.waitForLog((l) => l.msg === 'kiosk page request refused' && l.status === 403, 10_000, 'the refusal logged');

  // Still signed in: the machine, MQTT and the page say so, and nothing was recorded.
  const page = await browser.open(url);
  await eventually(async () => (await textOf(page, 'headline')) === 'Signed in as Bob Example', 10_000, 'still signed in on the page');
  assert.equal(kiosk.agent.states().at(-1), 'signed_in');
  assert.equal(signedOutEvents(kiosk).length, 0, 'no signed_out event');
  assert.ok(!kiosk.mqtt.messages.some((m) => m.text.includes('"signed_out"')), 'nothing about a sign-out on MQTT');
  assert.ok(!kiosk.agent.stderr().includes(token), 'the page token is never logged');

  // A foreign Host (DNS rebinding) learns nothing on any route.
  for (const path of ['/', '/state.json', '/events', '/qr.svg']) {
    const r = await rawRequest(port, path, { headers: { host: `rebound.evil.example:${port}` } });
    assert.equal(r.status, 421, path);
    assert.ok(!r.body.includes('Bob'), `${path}: nothing of the state`);
  }
});

test('KIOSK_SIGN_IN=on_request: "Not signed in" with a Sign in button; pressing it shows a code whose QR reads', async (t) => {
  const { kiosk, browser, url } = await webKiosk(t, { KIOSK_SIGN_IN: 'on_request' });
  await kiosk.agent.waitForState('awaiting_sign_in');
  const page = await browser.open(url, { width: 480, height: 800 });
  await eventually(async () => (await textOf(page, 'headline')) === 'Not signed in', 10_000, '"Not signed in" on the page');
  await assertTouchable(page, 'Sign in');
  assert.equal((await kiosk.idp.requests()).filter((r) => r.endpoint === 'devicecode').length, 0, 'no code asked for yet');
  if (SHOTS !== undefined) await writeFile(join(SHOTS, 'web-not-signed-in-480x800.png'), await page.screenshot());

  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  const [pending] = await kiosk.idp.waitForPending();
  assert.ok(pending);
  await eventually(async () => (await textOf(page, 'code')) === pending.user_code, 15_000, 'the code on the page');
  await qrLoaded(page);
  assert.equal(await browser.decodeQr(await page.screenshot()), pending.verification_uri_complete);
  assert.equal(await page.getByRole('button', { name: 'Sign in', exact: true }).count(), 0, 'no Sign in button while a code is shown');
  await kiosk.idp.approve(pending.user_code, 'carol');
  await eventually(async () => (await textOf(page, 'headline')) === 'Signed in as Carol Example', 15_000, 'signed in');
  assert.equal(await page.getByRole('button', { name: 'Sign out', exact: true }).count(), 0, 'no Sign out button unless KIOSK_WEB_SIGN_OUT=true');
});
