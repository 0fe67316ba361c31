import { readFile, writeFile } from 'node:fs/promises';
import { crc32, deflateSync } from 'node:zlib';
import jsqr from 'jsqr';
import { qrBox } from './qr-decode.js';
import type { QrFound } from './qr-decode.js';

/** jsqr is CommonJS typed as an ES module: its function is `module.exports` and also `module.exports.default`. */
const jsQR = jsqr.default;

/** How a frame lies in a framebuffer file: visible size, depth, bytes per row. */
export interface FrameLayout {
  width: number;
  height: number;
  bpp: 16 | 24 | 32;
  stride?: number;
}

export interface Rgba {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

/**
 * Reads a framebuffer's bytes back into RGBA, written independently of the renderer's encoder:
 * 16 bpp is a little-endian RGB565 word, 24 bpp is B G R, 32 bpp is B G R X (X ignored).
 */
export function frameToRgba(frame: Buffer, layout: FrameLayout): Rgba {
  const { width, height, bpp } = layout;
  const bytes = bpp / 8;
  const stride = layout.stride ?? width * bytes;
  if (frame.length < stride * (height - 1) + width * bytes) throw new Error(`frame of ${frame.length} bytes is too short`);
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y += 1)
    for (let x = 0; x < width; x += 1) {
      const at = y * stride + x * bytes;
      const o = (y * width + x) * 4;
      if (bpp === 16) {
        const w = frame.readUInt16LE(at);
        const [r5, g6, b5] = [w >> 11, (w >> 5) & 0x3f, w & 0x1f];
        data[o] = (r5 << 3) | (r5 >> 2);
        data[o + 1] = (g6 << 2) | (g6 >> 4);
        data[o + 2] = (b5 << 3) | (b5 >> 2);
      } else {
        data[o] = frame[at + 2]!;
        data[o + 1] = frame[at + 1]!;
        data[o + 2] = frame[at]!;
      }
      data[o + 3] = 255;
    }
  return { data, width, height };
}

export async function readFrame(path: string, layout: FrameLayout): Promise<Rgba> {
  return frameToRgba(await readFile(path), layout);
}

/** The text of the QR code on screen, decoded with jsQR (never inverted, as a phone would see it); undefined when none. */
export function decodeQr(image: Rgba): string | undefined {
  return jsQR(image.data, image.width, image.height, { inversionAttempts: 'dontInvert' })?.data;
}

/** The same, with the box its symbol spans on screen (see `qrBox`). */
export function readQr(image: Rgba): QrFound | undefined {
  const found = jsQR(image.data, image.width, image.height, { inversionAttempts: 'dontInvert' });
  return found === null ? undefined : qrBox(found as unknown as Parameters<typeof qrBox>[0]);
}

function chunk(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])) >>> 0, 0);
  return Buffer.concat([head, body, crc]);
}

/** An 8-bit RGB PNG of the image (no filter, zlib-compressed scanlines). */
export function toPng(image: Rgba): Buffer {
  const { data, width, height } = image;
  const raw = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y += 1) {
    const row = y * (1 + width * 3);
    for (let x = 0; x < width; x += 1) {
      const i = (y * width + x) * 4;
      raw[row + 1 + x * 3] = data[i]!;
      raw[row + 2 + x * 3] = data[i + 1]!;
      raw[row + 3 + x * 3] = data[i + 2]!;
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Converts a framebuffer file into a PNG file (screenshots for the README). */
export async function framebufferToPng(path: string, layout: FrameLayout, png: string): Promise<void> {
  await writeFile(png, toPng(await readFrame(path, layout)));
}
