import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { systemClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { terminalDisplay } from '../src/displays/terminal.js';
import { toView } from '../src/displays/view.js';
import { createLogger } from '../src/log.js';
import { launchBrowser } from './helpers/browser.js';

/** Set to a directory (e.g. docs/images) to keep the screenshot. */
const SHOTS = process.env.KIOSK_SCREENSHOT_DIR;
const NOW = Date.parse('2025-01-01T14:30:00Z');
const COMPLETE = 'https://login.example.test/device?user_code=WXYZ-2345';

/** The console of an 800x480 Pi screen with an 8x16 font: 100 columns, 30 rows. */
class Tty extends Writable {
  text = '';
  readonly isTTY = true;
  readonly columns = 100;
  readonly rows = 30;
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString('utf8');
    cb();
  }
}

const escapeHtml = (s: string): string => s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);

/**
 * The last frame the display drew, as a terminal shows it: cursor moves and clears dropped, SGR 1
 * (bold), 97 (bright white text) and 40 (black background) kept as styles, 0 resetting them.
 */
function lastFrameAsHtml(stream: string): string {
  const frame = stream.slice(stream.lastIndexOf('\x1b[H') + 3);
  let html = '';
  let open = false;
  const ESC = '\x1b';
  for (const part of frame.split(new RegExp(`(${ESC}\\[[0-9;?]*[A-Za-z])`))) {
    const sgr = new RegExp(`^${ESC}\\[([0-9;]*)m$`).exec(part);
    if (sgr) {
      if (open) html += '</span>';
      const codes = (sgr[1] ?? '').split(';');
      const style = [codes.includes('1') ? 'font-weight:bold' : '', codes.includes('97') ? 'color:#fff' : '', codes.includes('40') ? 'background:#000' : '']
        .filter(Boolean)
        .join(';');
      open = style !== '';
      if (open) html += `<span style="${style}">`;
    } else if (!part.startsWith(ESC)) html += escapeHtml(part);
  }
  if (open) html += '</span>';
  return html.replace(/\r/g, '');
}

test('the terminal screen, drawn by a browser as a console would, shows the code and a QR a phone can read', async (t) => {
  const env = { KIOSK_CLIENT_ID: 'kiosk-demo', KIOSK_AUTHORITY: 'https://login.example.test/tenant/', KIOSK_DEVICE_ID: 'lobby-1' };
  const tty = new Tty();
  const display = terminalDisplay({ config: loadConfig({ env }).config, log: createLogger('silent'), clock: systemClock, stdout: tty });
  await display.start();
  await display.render(
    toView({ state: 'awaiting_sign_in', since: NOW, userCode: 'WXYZ-2345', verificationUri: 'https://login.example.test/device', verificationUriComplete: COMPLETE, expiresAt: NOW + 299_000 }, undefined, NOW, 'lobby-1'),
  );
  await display.stop();

  const browser = await launchBrowser(t);
  const page = await browser.context.newPage();
  // 8x16 cells in the console's palette: light grey on black.
  await page.setViewportSize({ width: 800, height: 480 });
  await page.setContent(
    `<body style="margin:0;background:#000;color:#aaa"><pre id="screen" style="margin:0;font:13.3px/16px 'DejaVu Sans Mono',monospace">${lastFrameAsHtml(tty.text)}</pre></body>`,
  );
  const shot = await page.screenshot();
  if (SHOTS !== undefined) await writeFile(join(SHOTS, 'terminal-awaiting.png'), shot);
  const text = await page.locator('#screen').innerText();
  assert.match(text, /WXYZ-2345/, 'the code, in plain letters');
  assert.match(text, /https:\/\/login\.example\.test\/device/, 'the URL');
  assert.match(text, /4:59/, 'the countdown');
  assert.equal(await browser.decodeQr(shot), COMPLETE, 'the QR decodes from the screen');
});
