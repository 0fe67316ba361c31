import type { Canvas } from './fb-canvas.js';
import { PALETTE } from './fb-canvas.js';

export type Bpp = 16 | 24 | 32;

/** How a frame lies in the device's memory. */
export interface FbLayout {
  /** Visible pixels: what is drawn. */
  readonly width: number;
  readonly height: number;
  readonly bpp: Bpp;
  /** Bytes from the start of one row to the next (at least width × bpp / 8; fbdev may pad rows). */
  readonly stride: number;
}

/** Bytes of a whole frame: `height` rows of `stride` bytes. */
export const frameSize = (l: FbLayout): number => l.stride * l.height;

/**
 * One palette colour as the device stores it, little-endian as Linux fbdev lays pixels out:
 * 16 bpp RGB565 (a 16-bit word), 24 bpp B G R, 32 bpp XRGB8888 (B G R X in memory, X set to 0xff
 * so drivers that read it as alpha show the pixel opaque).
 */
export function pixelBytes([r, g, b]: readonly [number, number, number], bpp: Bpp): Buffer {
  if (bpp === 16) {
    const word = ((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3);
    return Buffer.from([word & 0xff, word >> 8]);
  }
  return Buffer.from(bpp === 24 ? [b, g, r] : [b, g, r, 0xff]);
}

/**
 * Encodes the canvas into `out` (frameSize bytes) in the device's pixel format. Runs of one colour
 * are filled at once, so a mostly plain screen costs little; row padding beyond the width stays 0.
 */
export function encodeFrame(canvas: Canvas, layout: FbLayout, out: Buffer): void {
  const bytes = layout.bpp / 8;
  const patterns = PALETTE.map((rgb) => pixelBytes(rgb, layout.bpp));
  const { pixels, width } = canvas;
  const rows = Math.min(canvas.height, layout.height);
  const columns = Math.min(width, layout.width);
  for (let y = 0; y < rows; y += 1) {
    const src = y * width;
    const dst = y * layout.stride;
    let x = 0;
    while (x < columns) {
      const colour = pixels[src + x]!;
      let end = x + 1;
      while (end < columns && pixels[src + end] === colour) end += 1;
      const pattern = patterns[colour] ?? patterns[0]!;
      if (end - x === 1) pattern.copy(out, dst + x * bytes);
      else out.fill(pattern, dst + x * bytes, dst + end * bytes);
      x = end;
    }
  }
}
