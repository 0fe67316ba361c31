import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import jsqr from 'jsqr';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { qrBox } from './qr-decode.js';
import { eventually } from './wait.js';
import type { QrFound } from './qr-decode.js';

export type { QrFound };

/** jsqr is CommonJS typed as an ES module (see qr-decode.ts). */
const jsQR = jsqr.default;

/** Debian's Chromium; a browser is never downloaded. */
export const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

/** The 7-inch kiosk screen the page is designed for. */
export const KIOSK_SCREEN = { width: 800, height: 480 };

export interface KioskBrowser {
  readonly context: BrowserContext;
  /** A new tab at the kiosk screen's size (or `viewport`). */
  open(url: string, viewport?: { width: number; height: number }): Promise<Page>;
  /** The text of the QR code in a PNG (a screenshot), read with jsQR as a phone would, or undefined. */
  decodeQr(png: Buffer): Promise<string | undefined>;
  /** The same, with where the decoder found the symbol (its corners, in screenshot pixels). */
  readQr(png: Buffer): Promise<QrFound | undefined>;
}

/** Headless Chromium with a fresh profile, closed (and the profile removed) after the test. */
export async function launchBrowser(t: TestContext): Promise<KioskBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'kiosk-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: ARGS, viewport: KIOSK_SCREEN, offline: false,
  });
  t.after(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  });
  return {
    context,
    async open(url, viewport = KIOSK_SCREEN) {
      const page = await context.newPage();
      await page.setViewportSize(viewport);
      await page.goto(url);
      return page;
    },
    async decodeQr(png) {
      const { width, height, data } = await pixels(context, png);
      return jsQR(data, width, height, { inversionAttempts: 'dontInvert' })?.data;
    },
    async readQr(png) {
      const { width, height, data } = await pixels(context, png);
      const found = jsQR(data, width, height, { inversionAttempts: 'dontInvert' });
      return found === null ? undefined : qrBox(found as unknown as Parameters<typeof qrBox>[0]);
    },
  };
}

/** Runs in the browser (the tests' TypeScript has no DOM types, so it is a string): PNG as base64 in, RGBA as base64 out. */
const DECODE_PNG = `async (b64) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const rgba = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let bin = '';
  for (let i = 0; i < rgba.length; i += 0x8000) bin += String.fromCharCode(...rgba.subarray(i, i + 0x8000));
  return { width: canvas.width, height: canvas.height, data: btoa(bin) };
}`;

/** Decodes a PNG to RGBA with the browser's own image decoder (a blank tab and a canvas): no PNG library needed. */
async function pixels(context: BrowserContext, png: Buffer): Promise<{ width: number; height: number; data: Uint8ClampedArray }> {
  const tab = await context.newPage();
  try {
    const out = (await tab.evaluate(`(${DECODE_PNG})(${JSON.stringify(png.toString('base64'))})`)) as { width: number; height: number; data: string };
    return { width: out.width, height: out.height, data: new Uint8ClampedArray(Buffer.from(out.data, 'base64')) };
  } finally {
    await tab.close();
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Resolves once the page's QR image has loaded. Polled from here: Playwright's own polling of a string
 * predicate runs `eval` in the page, which the page's CSP (rightly) refuses.
 */
export async function qrLoaded(page: Page, timeoutMs = 10_000): Promise<void> {
  const loaded = "(() => { const q = document.getElementById('qr'); return !!q && q.getAttribute('src') !== null && q.complete && q.naturalWidth > 0 })()";
  await eventually(async () => (await page.evaluate(loaded)) === true, timeoutMs, 'the QR image to load');
}

/** The text of element `#id` on the page. */
export const textOf = (page: Page, id: string): Promise<string> => page.locator(`#${id}`).innerText();
