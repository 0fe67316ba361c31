import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { freePort, launchBrowser, qrLoaded, textOf } from './helpers/browser.js';
import { startKiosk } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

/** Set to a directory (e.g. docs/images) to keep the screenshots of the real page. */
const SHOTS = process.env.KIOSK_SCREENSHOT_DIR;

/** The landscape screens the framebuffer is checked at, and portrait signage and the Pi touchscreen rotated (CONTRACT §9). */
const LANDSCAPE = [[480, 320], [800, 480], [1280, 720], [1920, 1080]] as const;
const PORTRAIT = [[480, 800], [720, 1280], [1080, 1920]] as const;

async function box(page: Page, selector: string) {
  const b = await page.locator(selector).boundingBox();
  assert.ok(b !== null, `${selector} is laid out`);
  return b;
}

/** A new viewport, laid out and painted (two animation frames: the page's own resize handler has run). */
async function resize(page: Page, width: number, height: number): Promise<void> {
  await page.setViewportSize({ width, height });
  await page.evaluate('new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))');
}

/** Wholly on the screen: nothing the person needs is cut off or scrolled away. */
function onScreen(b: { x: number; y: number; width: number; height: number }, width: number, height: number, what: string): void {
  assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.width <= width + 0.5 && b.y + b.height <= height + 0.5, `${what} at ${JSON.stringify(b)} lies within ${width}x${height}`);
}

test('the kiosk page at every aspect ratio: the QR reads; portrait stacks it above the text, at least half the width; the signed-in view fits', async (t) => {
  const port = await freePort();
  const [kiosk, browser] = await Promise.all([
    startKiosk(t, { env: { KIOSK_DISPLAY: 'terminal,web', KIOSK_WEB_PORT: String(port), KIOSK_WEB_SIGN_OUT: 'true' } }),
    launchBrowser(t),
  ]);
  await kiosk.agent.waitForLog((l) => l.msg === 'kiosk page listening', 20_000, 'the kiosk page');
  const [pending] = await kiosk.idp.waitForPending();
  assert.ok(pending);
  // One page turned to each size in turn, as a screen rotated or a browser resized (and a kiosk has one
  // tab: Chromium holds six connections to a host, each open page's event stream takes one).
  const page = await browser.open(`http://127.0.0.1:${port}/`);
  await eventually(async () => (await textOf(page, 'code')) === pending.user_code, 10_000, 'the code');
  await qrLoaded(page);
  for (const [width, height] of [...LANDSCAPE, ...PORTRAIT]) {
    await resize(page, width, height);
    const size = `${width}x${height}`;
    const shot = await page.screenshot();
    const qr = await browser.readQr(shot);
    assert.ok(qr !== undefined, `${size}: a QR on screen`);
    assert.equal(qr.data, pending.verification_uri_complete, `${size}: the QR reads`);
    const code = await box(page, '#code');
    for (const id of ['#headline', '#url', '#code', '#left']) onScreen(await box(page, id), width, height, `${size} ${id}`);
    assert.ok(!(await page.locator('#url').evaluate((e) => e.scrollWidth > e.clientWidth + 1)), `${size}: the URL is not cut`);
    const symbol = qr.right - qr.left;
    if (height > width) {
      assert.ok(symbol >= width / 2, `${size}: the QR symbol is ${Math.round(symbol)} px wide, at least half of ${width}`);
      assert.ok(qr.bottom <= code.y, `${size}: the QR (to ${Math.round(qr.bottom)}) is above the code (from ${Math.round(code.y)})`);
      if (SHOTS !== undefined) await writeFile(join(SHOTS, `web-awaiting-${size}.png`), shot);
    } else {
      assert.ok(qr.right <= code.x, `${size}: the QR is beside the text`);
      assert.ok(symbol >= height / 2, `${size}: the QR symbol is ${Math.round(symbol)} px, at least half the height`);
    }
  }

  await kiosk.idp.approve(pending.user_code, 'alice');
  await eventually(async () => (await textOf(page, 'headline')) === 'Signed in as Alice Example', 15_000, 'signed in');
  for (const [width, height] of [...LANDSCAPE, ...PORTRAIT]) {
    await resize(page, width, height);
    const size = `${width}x${height}`;
    for (const id of ['#headline', '#who']) onScreen(await box(page, id), width, height, `${size} ${id}`);
    const button = await box(page, '#out');
    onScreen(button, width, height, `${size} Sign out`);
    assert.ok(button.width >= 48 && button.height >= 48, `${size}: Sign out is ${button.width}x${button.height}`);
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    for (const name of ['Yes, sign out', 'Cancel']) {
      const b = await page.getByRole('button', { name, exact: true }).boundingBox();
      assert.ok(b !== null && b.width >= 48 && b.height >= 48, `${size}: ${name} is at least 48x48`);
      onScreen(b, width, height, `${size} ${name}`);
    }
    if (SHOTS !== undefined && height > width && width === 1080) await writeFile(join(SHOTS, `web-sign-out-confirm-${size}.png`), await page.screenshot());
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
  }
  assert.equal(kiosk.agent.logs().filter((l) => l.event === 'signed_out').length, 0, 'every confirm step was cancelled');
});
