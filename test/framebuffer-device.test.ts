import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FramebufferError } from '../src/displays/fb-geometry.js';
import { framebufferDisplay } from '../src/displays/framebuffer.js';
import type { Display, View } from '../src/displays/index.js';
import { DISPLAY_FACTORIES, startDisplays } from '../src/displays/index.js';
import { createLogger } from '../src/log.js';
import { Machine } from '../src/state.js';
import { decodeQr, frameToRgba, readFrame } from './helpers/framebuffer-png.js';
import { at, awaiting, CODE, COMPLETE, fbDeps, tempDir, URI } from './helpers/framebuffer-setup.js';
import { findText } from './helpers/framebuffer-text.js';
import { FakeClock } from './helpers/fake-clock.js';

/** A fake `/sys/class/graphics/fb0/` with the given files, and an empty plain file standing in for /dev/fb0. */
async function fakeDevice(t: TestContext, sysfs: Record<string, string>, name = 'fb0') {
  const dir = await tempDir(t);
  const graphics = join(dir, 'sys', 'class', 'graphics', name);
  await mkdir(graphics, { recursive: true });
  for (const [file, text] of Object.entries(sysfs)) await writeFile(join(graphics, file), `${text}\n`);
  await mkdir(join(dir, 'dev'));
  const device = join(dir, 'dev', name);
  await writeFile(device, '');
  const display = framebufferDisplay(fbDeps({ KIOSK_FRAMEBUFFER: device }), { sysfsRoot: join(dir, 'sys') });
  t.after(() => display.stop());
  return { device, display };
}

test('sysfs: geometry, depth and a padded stride are read from /sys/class/graphics/fbN and honoured', async (t) => {
  const cases = [
    { sysfs: { virtual_size: '800,480', bits_per_pixel: '32', stride: '3328' }, width: 800, height: 480, bpp: 32, stride: 3328 },
    { sysfs: { virtual_size: '1280,720', bits_per_pixel: '24', stride: '3904' }, width: 1280, height: 720, bpp: 24, stride: 3904 },
    // No stride file (old kernels): rows are packed.
    { sysfs: { virtual_size: '480,320', bits_per_pixel: '16' }, width: 480, height: 320, bpp: 16, stride: 960 },
    // A virtual screen twice the visible height (room for panning): only the visible mode is drawn.
    { sysfs: { virtual_size: '800,960', bits_per_pixel: '16', stride: '1664', modes: 'U:800x480p-0' }, width: 800, height: 480, bpp: 16, stride: 1664 },
  ] as const;
  for (const c of cases) {
    const { device, display } = await fakeDevice(t, c.sysfs);
    await display.start();
    await display.render(at(awaiting({ verificationUriComplete: COMPLETE })));
    const bytes = await readFile(device);
    assert.equal(bytes.length, c.stride * c.height, `${c.sysfs.virtual_size}: stride × visible rows`);
    const image = frameToRgba(bytes, c);
    assert.equal(decodeQr(image), COMPLETE, `${c.sysfs.virtual_size} at ${c.bpp} bpp`);
    assert.ok(findText(image, CODE), 'the code is drawn where it belongs: rows do not drift');
    const used = (c.width * c.bpp) / 8;
    for (let y = 0; y < c.height; y += 1)
      assert.ok(bytes.subarray(y * c.stride + used, (y + 1) * c.stride).every((b) => b === 0), `row ${y} padding untouched`);
  }
});

test('sysfs: an unsupported depth or a path that is not an fbdev device fails start with a clear error', async (t) => {
  const eight = await fakeDevice(t, { virtual_size: '640,480', bits_per_pixel: '8' });
  await assert.rejects(eight.display.start(), (e: unknown) => e instanceof FramebufferError && /bits_per_pixel.*16, 24 or 32/.test(e.message));
  const { device } = await fakeDevice(t, { virtual_size: '640,480', bits_per_pixel: '32' }, 'screen');
  const notFb = framebufferDisplay(fbDeps({ KIOSK_FRAMEBUFFER: device }));
  await assert.rejects(notFb.start(), (e: unknown) => e instanceof FramebufferError && /KIOSK_FRAMEBUFFER_GEOMETRY/.test(e.message));
  await notFb.stop();
});

test('a missing device fails start with ENOENT and creates nothing; a directory cannot be drawn on', async (t) => {
  const missing = framebufferDisplay(fbDeps({ KIOSK_FRAMEBUFFER: '/dev/fb-kiosk-test-missing' }));
  await assert.rejects(missing.start(), { code: 'ENOENT' });
  await missing.stop();
  const withGeometry = framebufferDisplay(fbDeps({ KIOSK_FRAMEBUFFER: '/dev/fb-kiosk-test-missing', KIOSK_FRAMEBUFFER_GEOMETRY: '480x320x16' }));
  await assert.rejects(withGeometry.start(), { code: 'ENOENT' });
  await assert.rejects(stat('/dev/fb-kiosk-test-missing'), { code: 'ENOENT' }, 'no file created in /dev');
  const dir = await tempDir(t);
  const directory = framebufferDisplay(fbDeps({ KIOSK_FRAMEBUFFER: dir, KIOSK_FRAMEBUFFER_GEOMETRY: '480x320x16' }));
  await assert.rejects(directory.start(), { code: 'EISDIR' });
  await directory.stop();
});


async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('through the display manager: a missing framebuffer is logged and retried, the other display carries on, then it draws', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'later', 'fb.raw');
  const logs: Array<{ level: string; display?: string; code?: string }> = [];
  const clock = new FakeClock();
  const log = createLogger('warn', { write: (s: string) => void logs.push(JSON.parse(s) as (typeof logs)[number]) });
  const deps = fbDeps({ KIOSK_DISPLAY: 'framebuffer,web', KIOSK_FRAMEBUFFER: path, KIOSK_FRAMEBUFFER_GEOMETRY: '800x480x16' }, { clock, log });
  const views: View[] = [];
  const web = (): Display => ({ name: 'web', start: async () => undefined, render: (v) => void views.push(v), stop: async () => undefined });
  const machine = new Machine(clock);
  const running = startDisplays(machine, deps, { ...DISPLAY_FACTORIES, framebuffer: framebufferDisplay, web });
  t.after(() => running.stop());
  const failures = () => logs.filter((l) => l.level === 'warn' && l.display === 'framebuffer');

  await waitFor('first failure', () => failures().length === 1);
  assert.equal(failures()[0]!.code, 'ENOENT');
  machine.go('awaiting_sign_in', { userCode: CODE, verificationUri: URI, expiresAt: clock.now() + 300_000 });
  clock.advance(1_000);
  await waitFor('second failure', () => failures().length === 2);
  assert.ok(views.some((v) => v.userCode === CODE), 'the web display shows the code meanwhile');

  await mkdir(join(dir, 'later'));
  clock.advance(2_000);
  const layout = { width: 800, height: 480, bpp: 16 } as const;
  await waitFor('the frame', async () => (await stat(path).catch(() => undefined))?.size === 800 * 480 * 2);
  assert.equal(decodeQr(await readFrame(path, layout)), URI);
  assert.equal(failures().length, 2, 'no failure once the device is there');
});
