import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import type { ActionOutcome, KioskActions } from '../src/displays/display.js';
import { Canvas, textWidth } from '../src/displays/fb-canvas.js';
import { paint } from '../src/displays/fb-layout.js';
import { framebufferDisplay } from '../src/displays/framebuffer.js';
import { FONT_HEIGHT } from '../src/displays/font-ascii.js';
import { inputEvent, TapParser, tapEvents } from '../src/displays/touch.js';
import type { Tap } from '../src/displays/touch.js';
import { createLogger } from '../src/log.js';
import { decodeQr, readFrame, toPng } from './helpers/framebuffer-png.js';
import type { Rgba } from './helpers/framebuffer-png.js';
import { at, fbDeps, NOW, signedIn, tempDir } from './helpers/framebuffer-setup.js';
import { findText } from './helpers/framebuffer-text.js';
import { approveNext, startKiosk } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

const run = promisify(execFile);
/** Set to a directory (e.g. docs/images) to keep pictures of the touchscreen's buttons. */
const SHOTS = process.env.KIOSK_SCREENSHOT_DIR;
const LAYOUT = { width: 800, height: 480, bpp: 32 } as const;
const CLAIMS = { name: 'Ada Lovelace', preferred_username: 'ada@example.com' };

/** Where a button's words are on screen: the point a finger presses (light words on the filled button, dark on the outlined one). */
function buttonAt(image: Rgba, label: string, ink: 'light' | 'dark' = 'light'): Tap | undefined {
  const found = findText(image, label, { ink, maxScale: 8 });
  if (found === undefined) return undefined;
  return { x: found.x + Math.floor(textWidth(label, found.scale) / 2), y: found.y + Math.floor((FONT_HEIGHT * found.scale) / 2) };
}

test('input events become taps: multi- and single-touch axes, 24- and 16-byte events, bytes in any pieces', () => {
  for (const size of [24, 16]) {
    const taps: Tap[] = [];
    const parser = new TapParser((tap) => taps.push(tap), size);
    const bytes = Buffer.concat([tapEvents(120, 340, size), tapEvents(5, 6, size)]);
    for (let i = 0; i < bytes.length; i += 7) parser.push(bytes.subarray(i, i + 7));
    assert.deepEqual(taps, [{ x: 120, y: 340 }, { x: 5, y: 6 }], `${size}-byte events`);
  }
  const taps: Tap[] = [];
  const parser = new TapParser((tap) => taps.push(tap), 24);
  // A finger that moves and is still down is no tap; one that lifts at a single-touch position is.
  parser.push(Buffer.concat([inputEvent(3, 0x35, 10), inputEvent(1, 0x14a, 1), inputEvent(0, 0, 0), inputEvent(3, 0x35, 20), inputEvent(0, 0, 0)]));
  assert.deepEqual(taps, []);
  parser.push(Buffer.concat([inputEvent(3, 0, 30), inputEvent(3, 1, 40), inputEvent(1, 0x14a, 0), inputEvent(0, 0, 0)]));
  assert.deepEqual(taps, [{ x: 30, y: 40 }]);
  parser.push(Buffer.concat([inputEvent(1, 0x110, 0), inputEvent(0, 0, 0), inputEvent(4, 4, 7), inputEvent(0, 0, 0)]));
  assert.equal(taps.length, 1, 'a mouse button or a scan code is not a touch');
});

test('the buttons are at least 48 px and on screen at every size, the confirm step\'s two side by side', () => {
  const ui = { question: 'Sign out Ada Lovelace?', buttons: [{ label: 'Yes, sign out', primary: true }, { label: 'Cancel', primary: false }] };
  for (const [width, height] of [[480, 320], [800, 480], [1920, 1080], [480, 800], [1080, 1920]] as const) {
    const hits = paint(new Canvas(width, height), at(signedIn, NOW, CLAIMS), undefined, ui);
    assert.equal(hits.length, 2, `${width}x${height}`);
    for (const h of hits) {
      assert.ok(h.w >= 48 && h.h >= 48, `${width}x${height} ${h.label}: ${h.w}x${h.h}`);
      assert.ok(h.x >= 0 && h.y >= 0 && h.x + h.w <= width && h.y + h.h <= height, `${width}x${height} ${h.label} on screen`);
    }
    assert.ok(hits[0]!.x + hits[0]!.w < hits[1]!.x, `${width}x${height}: apart`);
  }
});

class Recorder implements KioskActions {
  readonly calls: string[] = [];
  async signOut(from: string): Promise<ActionOutcome> {
    this.calls.push(`signOut:${from}`);
    return 'ok';
  }
  signIn(): ActionOutcome {
    this.calls.push('signIn');
    return 'ok';
  }
}

async function touchDisplay(t: TestContext, env: Record<string, string> = {}) {
  const dir = await tempDir(t, 'kiosk-touch-');
  const touch = join(dir, 'event0');
  await writeFile(touch, '');
  const path = join(dir, 'fb.raw');
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('debug', { write: (s: string) => void logs.push(JSON.parse(s) as Record<string, unknown>) });
  const actions = new Recorder();
  const deps = fbDeps({ KIOSK_DISPLAY: 'framebuffer', KIOSK_FRAMEBUFFER: path, KIOSK_FRAMEBUFFER_GEOMETRY: '800x480x32', KIOSK_TOUCH: touch, KIOSK_WEB_SIGN_OUT: 'true', ...env }, { log });
  const display = framebufferDisplay({ ...deps, actions });
  await display.start();
  t.after(() => display.stop());
  return { display, actions, logs, touch, frame: () => readFrame(path, LAYOUT) };
}

test('the framebuffer\'s Sign out answers a tap, with its confirm step; taps elsewhere do nothing', async (t) => {
  const fb = await touchDisplay(t);
  await fb.display.render(at(signedIn, NOW, { ...CLAIMS, email: 'ada.lovelace@contoso.example', oid: '2f6e1a0c-8d1b-4a55-9c2e-7e3f5b1d9a40' }));
  const signOut = buttonAt(await fb.frame(), 'Sign out');
  assert.ok(signOut, 'a Sign out button on screen');
  if (SHOTS !== undefined) await writeFile(join(SHOTS, 'framebuffer-touch-signed-in-800x480x32.png'), toPng(await fb.frame()));
  await appendFile(fb.touch, tapEvents(10, 470));
  await appendFile(fb.touch, tapEvents(signOut.x, signOut.y));
  await eventually(async () => buttonAt(await fb.frame(), 'Yes, sign out') !== undefined, 5_000, 'the confirm step');
  const image = await fb.frame();
  assert.ok(findText(image, 'Sign out Ada Lovelace?', { maxScale: 8 }), 'it names the account');
  if (SHOTS !== undefined) await writeFile(join(SHOTS, 'framebuffer-touch-confirm-800x480x32.png'), toPng(image));
  const cancel = buttonAt(image, 'Cancel', 'dark');
  assert.ok(cancel);
  await appendFile(fb.touch, tapEvents(cancel.x, cancel.y));
  await eventually(async () => buttonAt(await fb.frame(), 'Sign out') !== undefined, 5_000, 'back to Sign out');
  assert.deepEqual(fb.actions.calls, [], 'nothing done: a tap beside the buttons, then Cancel');

  await appendFile(fb.touch, tapEvents(signOut.x, signOut.y));
  await eventually(async () => buttonAt(await fb.frame(), 'Yes, sign out') !== undefined, 5_000, 'the confirm step again');
  const yes = buttonAt(await fb.frame(), 'Yes, sign out');
  assert.ok(yes);
  await appendFile(fb.touch, tapEvents(yes.x, yes.y));
  await eventually(() => fb.actions.calls.length > 0, 5_000, 'the sign-out');
  assert.deepEqual(fb.actions.calls, ['signOut:touchscreen']);
});

test('a touch range other than the screen\'s pixels is scaled; a missing touchscreen is retried and never stops the screen', async (t) => {
  const fb = await touchDisplay(t, { KIOSK_TOUCH_RANGE: '4096x4096', KIOSK_SIGN_IN: 'on_request' });
  await fb.display.render(at({ state: 'awaiting_sign_in', since: NOW, detail: 'Not signed in' }));
  const signIn = buttonAt(await fb.frame(), 'Sign in');
  assert.ok(signIn);
  await appendFile(fb.touch, tapEvents(Math.round((signIn.x * 4096) / 800), Math.round((signIn.y * 4096) / 480)));
  await eventually(() => fb.actions.calls.length > 0, 5_000, 'the sign-in');
  assert.deepEqual(fb.actions.calls, ['signIn']);

  const dir = await mkdtemp(join(tmpdir(), 'kiosk-touch-missing-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('debug', { write: (s: string) => void logs.push(JSON.parse(s) as Record<string, unknown>) });
  const path = join(dir, 'fb.raw');
  const deps = fbDeps({ KIOSK_DISPLAY: 'framebuffer', KIOSK_FRAMEBUFFER: path, KIOSK_FRAMEBUFFER_GEOMETRY: '800x480x32', KIOSK_TOUCH: join(dir, 'no-such-event0') }, { log });
  const display = framebufferDisplay({ ...deps, actions: new Recorder() });
  await display.start();
  t.after(() => display.stop());
  await display.render(at({ state: 'awaiting_sign_in', since: NOW, userCode: 'ABCD-EFGH', verificationUri: 'https://microsoft.com/devicelogin', expiresAt: NOW + 300_000 }));
  assert.equal(decodeQr(await readFrame(path, LAYOUT)), 'https://microsoft.com/devicelogin', 'the sign-in screen is drawn');
  await eventually(() => logs.some((l) => l.code === 'ENOENT' && String(l.msg).startsWith('touchscreen failed')), 5_000, 'the failure logged');
});

test('the real agent: a tap on Sign out and on "Yes, sign out" signs out (reason touchscreen) and the framebuffer shows a fresh code', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-touch-agent-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const fifo = join(dir, 'event0');
  await run('mkfifo', [fifo]);
  const fbPath = join(dir, 'fb.raw');
  const k = await startKiosk(t, {
    env: { KIOSK_DISPLAY: 'framebuffer', KIOSK_FRAMEBUFFER: fbPath, KIOSK_FRAMEBUFFER_GEOMETRY: '800x480x32', KIOSK_TOUCH: fifo, KIOSK_WEB_SIGN_OUT: 'true' },
  });
  await k.agent.waitForLog((l) => l.msg === 'touchscreen open', 20_000, 'the touchscreen opened');
  // The FIFO is as the kiosk's input device: not seekable, written while the agent reads.
  const finger: FileHandle = await open(fifo, 'w');
  t.after(() => finger.close());
  const first = await approveNext(k.idp, 'alice');
  await k.agent.waitForState('signed_in');
  const frame = () => readFrame(fbPath, LAYOUT);
  let signOut: Tap | undefined;
  await eventually(async () => (signOut = buttonAt(await frame(), 'Sign out')) !== undefined, 10_000, 'Sign out on the framebuffer');
  await finger.write(tapEvents(signOut!.x, signOut!.y));
  let yes: Tap | undefined;
  await eventually(async () => (yes = buttonAt(await frame(), 'Yes, sign out')) !== undefined, 10_000, 'the confirm step');
  assert.equal(k.agent.logs().filter((l) => l.event === 'signed_out').length, 0, 'nothing before it is confirmed');
  await finger.write(tapEvents(yes!.x, yes!.y));
  const signedOut = await k.agent.waitForLog((l) => l.event === 'signed_out', 15_000, 'the sign-out');
  assert.equal(signedOut.reason, 'touchscreen');
  const [fresh] = await k.idp.waitForPending((c) => c.user_code !== first);
  assert.ok(fresh);
  await eventually(async () => decodeQr(await frame()) === fresh.verification_uri_complete, 15_000, 'the fresh code\'s QR on the framebuffer');
  assert.equal(await k.agent.stop('SIGTERM'), 0, 'a clean stop with the touchscreen open');
  assert.ok(findText(await frame(), 'Stopped', { maxScale: 16 }));
});
