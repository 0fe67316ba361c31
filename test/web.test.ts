import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, launchBrowser, qrLoaded, textOf } from './helpers/browser.js';
import { startKiosk } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

/** Set to a directory (e.g. docs/images) to keep the screenshots of the real page. */
const SHOTS = process.env.KIOSK_SCREENSHOT_DIR;

const webKiosk = async (t: Parameters<typeof startKiosk>[0], port: number) =>
  startKiosk(t, { env: { KIOSK_DISPLAY: 'terminal,web', KIOSK_WEB_PORT: String(port) } });

test('the kiosk page shows the code and a QR a phone can read, then "Signed in as" live, without reload', async (t) => {
  const port = await freePort();
  const [kiosk, browser] = await Promise.all([webKiosk(t, port), launchBrowser(t)]);
  const { idp, agent } = kiosk;
  await agent.waitForLog((l) => l.msg === 'kiosk page listening', 15_000, 'the kiosk page');
  const [pending] = await idp.waitForPending();
  assert.ok(pending);
  const page = await browser.open(`http://127.0.0.1:${port}/`);
  let loads = 0;
  page.on('load', () => (loads += 1));
  await eventually(async () => (await textOf(page, 'code')) === pending.user_code, 10_000, 'the user code on the page');
  assert.equal(await textOf(page, 'url'), idp.verificationUri);
  await qrLoaded(page);

  const awaiting = await page.screenshot();
  assert.equal(await browser.decodeQr(awaiting), pending.verification_uri_complete, 'the QR on screen decodes to the verification URI');
  if (SHOTS !== undefined) await writeFile(join(SHOTS, 'web-awaiting.png'), awaiting);

  // The countdown runs in the page, against the provider's expiry.
  const left = /^Expires in (\d+):(\d\d)$/.exec(await textOf(page, 'left'));
  assert.ok(left, 'a countdown');
  const shown = Number(left[1]) * 60 + Number(left[2]);
  const expected = (Date.parse(pending.expires_at) - Date.now()) / 1000;
  assert.ok(Math.abs(shown - expected) < 3, `countdown ${shown} s, expected about ${Math.round(expected)} s`);
  await eventually(async () => (await textOf(page, 'left')) !== left[0], 3_000, 'the countdown to tick');

  // Nothing the provider issued (device code, tokens) is ever published to the page.
  const published = await (await fetch(`http://127.0.0.1:${port}/state.json`)).text();
  for (const secret of (await idp.issued()).filter((s) => s.length >= 16)) assert.ok(!published.includes(secret));

  await idp.approve(pending.user_code, 'alice');
  await eventually(async () => (await textOf(page, 'headline')) === 'Signed in as Alice Example', 15_000, 'the signed-in view');
  assert.equal(await page.locator('#code').isVisible(), false, 'no code once signed in');
  assert.equal(await page.locator('#qr').isVisible(), false, 'no QR once signed in');
  assert.equal(loads, 0, 'the page was not reloaded');
  const signedIn = await page.screenshot();
  if (SHOTS !== undefined) await writeFile(join(SHOTS, 'web-signed-in.png'), signedIn);
});

test('the kiosk page reconnects by itself after the agent restarts', async (t) => {
  const port = await freePort();
  const [kiosk, browser] = await Promise.all([webKiosk(t, port), launchBrowser(t)]);
  const [first] = await kiosk.idp.waitForPending();
  assert.ok(first);
  await kiosk.agent.waitForLog((l) => l.msg === 'kiosk page listening', 15_000, 'the kiosk page');
  const page = await browser.open(`http://127.0.0.1:${port}/`);
  let loads = 0;
  page.on('load', () => (loads += 1));
  await eventually(async () => (await textOf(page, 'code')) === first.user_code, 10_000, 'the first code on the page');

  // SIGTERM with the page's event stream open: the agent still exits promptly and cleanly.
  const stopping = Date.now();
  assert.equal(await kiosk.agent.stop('SIGTERM'), 0);
  assert.ok(Date.now() - stopping < 5_000, 'the agent exits within 5 s');
  await eventually(() => page.locator('#net').isVisible(), 5_000, 'the "reconnecting" notice');

  const again = await kiosk.reboot();
  await again.waitForState('awaiting_sign_in');
  const [second] = await kiosk.idp.waitForPending((c) => c.user_code !== first.user_code);
  assert.ok(second);
  await eventually(async () => (await textOf(page, 'code')) === second.user_code, 15_000, 'the new code on the page');
  assert.equal(await page.locator('#net').isVisible(), false, 'the notice is gone');
  await qrLoaded(page);
  assert.equal(await browser.decodeQr(await page.screenshot()), second.verification_uri_complete, 'the QR shows the new code');
  assert.equal(loads, 0, 'the page was not reloaded');
});
