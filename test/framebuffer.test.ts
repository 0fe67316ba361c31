import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { fitText, wrap } from '../src/displays/fb-canvas.js';
import { pixelBytes } from '../src/displays/fb-pixels.js';
import { fontText } from '../src/displays/font-ascii.js';
import { framebufferDisplay } from '../src/displays/framebuffer.js';
import type { View } from '../src/displays/view.js';
import { baseScale } from '../src/displays/fb-layout.js';
import { decodeQr, readFrame, readQr } from './helpers/framebuffer-png.js';
import type { FrameLayout, Rgba } from './helpers/framebuffer-png.js';
import { at, awaiting, CODE, COMPLETE, fbDeps, NOW, signedIn, tempDir, URI } from './helpers/framebuffer-setup.js';
import { findText } from './helpers/framebuffer-text.js';

type Geometry = `${number}x${number}x${16 | 24 | 32}`;
const layoutOf = (g: Geometry): FrameLayout => {
  const [width, height, bpp] = g.split('x').map(Number) as [number, number, 16 | 24 | 32];
  return { width, height, bpp };
};

/** Starts a framebuffer display on a plain file with `geometry`; stopped after the test. */
async function fileDisplay(t: TestContext, geometry: Geometry) {
  const path = join(await tempDir(t), 'fb.raw');
  const display = framebufferDisplay(fbDeps({ KIOSK_FRAMEBUFFER: path, KIOSK_FRAMEBUFFER_GEOMETRY: geometry }));
  await display.start();
  t.after(() => display.stop());
  const layout = layoutOf(geometry);
  return { display, path, layout, frame: () => readFrame(path, layout), show: (v: View) => display.render(v) };
}

const RESOLUTIONS = ['480x320', '800x480', '1280x720', '1920x1080'] as const;
const DEPTHS = [16, 24, 32] as const;

test('the QR decodes to the verification URI at 16, 24 and 32 bpp on every screen size', async (t) => {
  for (const [i, size] of RESOLUTIONS.entries())
    for (const [j, bpp] of DEPTHS.entries()) {
      const geometry = `${size}x${bpp}` as Geometry;
      const complete = (i + j) % 2 === 1;
      const fb = await fileDisplay(t, geometry);
      await fb.show(at(awaiting(complete ? { verificationUriComplete: COMPLETE, userCode: 'WXYZ-2345' } : {})));
      const { width, height, bpp: depth } = fb.layout;
      assert.equal((await stat(fb.path)).size, (width * height * depth) / 8, `${geometry}: one whole frame`);
      assert.equal(decodeQr(await fb.frame()), complete ? COMPLETE : URI, `${geometry}: QR`);
    }
});

/** Portrait signage and the Pi touchscreen rotated (CONTRACT §9). */
const PORTRAITS = ['480x800x16', '720x1280x24', '1080x1920x32'] as const;

/** The rows from `top` down, as an image of their own (findText on less screen). */
const below = (image: Rgba, top: number): Rgba => {
  const y = Math.max(0, Math.ceil(top));
  return { width: image.width, height: image.height - y, data: image.data.slice(y * image.width * 4) };
};

test('portrait screens stack the QR above the text, at least half the width, and it decodes', async (t) => {
  for (const geometry of PORTRAITS) {
    const fb = await fileDisplay(t, geometry);
    await fb.show(at(awaiting({ verificationUriComplete: COMPLETE })));
    const image = await fb.frame();
    const qr = readQr(image);
    assert.equal(qr?.data, COMPLETE, `${geometry}: QR`);
    assert.ok(qr.right - qr.left >= image.width / 2, `${geometry}: the symbol is ${Math.round(qr.right - qr.left)} of ${image.width} px wide`);
    const under = below(image, qr.bottom);
    const code = findText(under, CODE, { maxScale: 24 });
    assert.ok(code !== undefined, `${geometry}: the code is under the QR`);
    assert.ok(findText(under, 'Expires in 5:00', { maxScale: 12 }), `${geometry}: the countdown too`);
    assert.ok(code.scale >= 3 * baseScale(image.width, image.height), `${geometry}: the code stays large (scale ${code.scale})`);
  }
});

test('signed in: who is signed in, one line per allowed claim; what does not fit goes from the last one up', async (t) => {
  const claims = { name: 'Ada Lovelace', preferred_username: 'ada@example.com', email: 'ada@mail.example', oid: '2f6e1a0c-8d1b-4a55-9c2e-7e3f5b1d9a40' };
  for (const geometry of ['800x480x32', '480x800x16'] as const) {
    const fb = await fileDisplay(t, geometry);
    await fb.show(at(signedIn, NOW, claims));
    const image = await fb.frame();
    assert.ok(findText(image, 'Signed in as Ada Lovelace', { maxScale: 12 }), `${geometry}: the headline`);
    // A long value goes under its label when the line is too long for the screen.
    for (const line of ['Username: ada@example.com', 'Email: ada@mail.example', 'Object ID:', '2f6e1a0c-8d1b-4a55-9c2e-7e3f5b1d9a40'])
      assert.ok(findText(image, line, { maxScale: 6 }), `${geometry}: ${line}`);
    assert.ok(findText(image, 'Next refresh 14:45 UTC', { maxScale: 8 }), `${geometry}: the status`);
  }
  const small = await fileDisplay(t, '480x320x16');
  const many = {
    ...claims, tid: '72f988bf-86f1-41af-91ab-2d7cd011db47', given_name: 'Ada', family_name: 'Lovelace', roles: ['Kiosk.Operator', 'Reader'],
    dept: 'Analytical Engines', site: 'Marylebone', upn: 'ada.lovelace@contoso.example',
  };
  await small.show(at(signedIn, NOW, many));
  const image = await small.frame();
  assert.ok(findText(image, 'Username: ada@example.com', { maxScale: 4 }), 'the first claims stay');
  assert.equal(findText(image, 'UPN: ada.lovelace@contoso.example', { maxScale: 4 }), undefined, 'the last ones go');
  assert.ok(findText(image, 'Next refresh 14:45 UTC', { maxScale: 4 }), 'the status stays');
});

test('text is drawn with the built-in font: the code large, the URL, the title, the countdown', async (t) => {
  const fb = await fileDisplay(t, '800x480x32');
  await fb.show(at(awaiting()));
  const image = await fb.frame();
  const code = findText(image, CODE);
  assert.ok(code !== undefined, 'the user code is on screen');
  assert.ok(code.scale >= 6, `the code in large type (scale ${code.scale})`);
  assert.ok(findText(image, 'devicelogin', { maxScale: 8 }), 'the URL is on screen');
  assert.ok(findText(image, 'kiosk-agent · lobby-1', { ink: 'light', maxScale: 4 }), 'the title bar, light on dark');
  assert.ok(findText(image, 'Expires in 5:00', { maxScale: 8 }));
  await fb.show(at(awaiting(), NOW + 1_000));
  assert.ok(findText(await fb.frame(), 'Expires in 4:59', { maxScale: 8 }), 'the countdown moves on');
});

test('signed in: the account name and next refresh replace the QR', async (t) => {
  const fb = await fileDisplay(t, '1280x720x32');
  await fb.show(at(awaiting()));
  await fb.show(at(signedIn, NOW, { name: 'Ada Lovelace' }));
  const image = await fb.frame();
  assert.equal(decodeQr(image), undefined, 'no QR once signed in');
  assert.equal(findText(image, CODE, { maxScale: 30 }), undefined, 'no code either');
  assert.ok(findText(image, 'Signed in as Ada Lovelace', { maxScale: 12 }), 'the headline');
  assert.ok(findText(image, 'Next refresh 14:45 UTC', { maxScale: 12 }), 'the next refresh');
});

test('an unchanged frame is not written again; a changed one is', async (t) => {
  const fb = await fileDisplay(t, '480x320x16');
  await fb.show(at(awaiting()));
  const size = (await stat(fb.path)).size;
  await writeFile(fb.path, Buffer.alloc(size, 0x5a));
  await fb.show(at(awaiting(), NOW + 400));
  assert.ok((await readFile(fb.path)).every((b) => b === 0x5a), 'same seconds left: nothing written');
  await fb.show(at(awaiting(), NOW + 1_000));
  assert.equal(decodeQr(await fb.frame()), URI, 'a new second: the whole frame written again');
  await writeFile(fb.path, Buffer.alloc(size, 0x5a));
  await fb.show(at(signedIn));
  await fb.show(at(signedIn, NOW + 5_000));
  assert.ok(!(await readFile(fb.path)).every((b) => b === 0x5a), 'a new view is written');
  // The headline's green survives RGB565 (0, 100, 30 → 0, 101, 24): the channels are in their places.
  const { data } = await fb.frame();
  let green = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i] === 0 && data[i + 1] === 101 && data[i + 2] === 24) green += 1;
  assert.ok(green > 100, `${green} green pixels`);
});

test('the other states draw their headline; stop leaves "Stopped" on screen', async (t) => {
  const fb = await fileDisplay(t, '800x480x24');
  const states: Array<[Parameters<typeof at>[0], string]> = [
    [{ state: 'starting', since: NOW }, 'Starting'],
    [{ state: 'restoring', since: NOW, account: { username: 'ada@example.com', name: 'José' } }, 'Signing in as Jose'],
    [{ state: 'offline', since: NOW, retryAt: NOW + 12_000 }, 'Waiting for network'],
    [{ state: 'error', since: NOW, error: { code: 'invalid_client', message: 'Unknown client id' } }, 'invalid_client'],
    [awaiting({ expiresAt: NOW - 1 }), 'Code expired; getting a new one'],
  ];
  for (const [snapshot, headline] of states) {
    await fb.show(at(snapshot));
    const image = await fb.frame();
    assert.ok(findText(image, headline, { maxScale: 16 }), `${snapshot.state}: ${headline}`);
    assert.equal(decodeQr(image), undefined);
  }
  await fb.display.stop();
  assert.ok(findText(await fb.frame(), 'Stopped', { maxScale: 16 }));
});

test('pixel formats: RGB565 little-endian, BGR888, XRGB8888 as B G R X', () => {
  assert.deepEqual([...pixelBytes([255, 255, 255], 16)], [0xff, 0xff]);
  assert.deepEqual([...pixelBytes([160, 0, 0], 16)], [0x00, 0xa0]);
  assert.deepEqual([...pixelBytes([0, 100, 30], 16)], [0x23, 0x03]);
  assert.deepEqual([...pixelBytes([10, 20, 30], 24)], [30, 20, 10]);
  assert.deepEqual([...pixelBytes([10, 20, 30], 32)], [30, 20, 10, 0xff]);
});

test('layout helpers: URLs break after / and ., long text shrinks before it is cut, odd characters map', () => {
  assert.deepEqual(wrap('https://microsoft.com/devicelogin', 22), ['https://microsoft.com/', 'devicelogin']);
  assert.deepEqual(wrap('a · b · c', 4), ['a', '· b', '· c']);
  assert.deepEqual(fitText('Signed in', 200, 4, 2, 1), { lines: ['Signed in'], scale: 3 });
  const cut = fitText('x'.repeat(100), 60, 2, 2, 2);
  assert.deepEqual(cut, { lines: ['xxxxxxxxxx', 'xxxxxxxxx…'], scale: 1 });
  assert.equal(fontText('José – naïve ✓'), 'Jose - naive ?');
});
