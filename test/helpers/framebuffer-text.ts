import { FONT_ADVANCE, FONT_HEIGHT, fontGlyph, fontText } from '../../src/displays/font-ascii.js';
import type { Rgba } from './framebuffer-png.js';

/** Where a line of text was found, and at what integer scale. */
export interface Found {
  x: number;
  y: number;
  scale: number;
}

/** One font pixel of the searched line: its place in font pixels, and whether it is lit. */
interface Probe {
  dx: number;
  dy: number;
  lit: boolean;
}

function probes(text: string): Probe[] {
  const chars = fontText(text);
  const out: Probe[] = [];
  for (let i = 0; i < chars.length; i += 1) {
    const rows = fontGlyph(chars[i]!);
    const columns = i === chars.length - 1 ? FONT_ADVANCE - 1 : FONT_ADVANCE;
    for (let dy = 0; dy < FONT_HEIGHT; dy += 1)
      for (let c = 0; c < columns; c += 1) out.push({ dx: i * FONT_ADVANCE + c, dy, lit: (rows[dy]! & (1 << (4 - c))) !== 0 });
  }
  // Lit pixels first: on a mostly plain screen most places fail at the first look.
  return [...out.filter((p) => p.lit), ...out.filter((p) => !p.lit)];
}

/**
 * Looks for `text` drawn with the built-in font at any integer scale (largest first), without OCR:
 * at each place, the screen pixel at the centre of every font pixel's block must be ink where the
 * glyph is lit and paper where it is not (the whole line box, gaps included). `ink` says whether
 * the text is dark on light (the default) or light on dark (the title bar).
 */
export function findText(image: Rgba, text: string, options: { ink?: 'dark' | 'light'; maxScale?: number } = {}): Found | undefined {
  const { data, width, height } = image;
  const dark = options.ink !== 'light';
  const ink = new Uint8Array(width * height);
  for (let i = 0; i < ink.length; i += 1) {
    const luma = 0.299 * data[i * 4]! + 0.587 * data[i * 4 + 1]! + 0.114 * data[i * 4 + 2]!;
    ink[i] = (luma < 128) === dark ? 1 : 0;
  }
  const list = probes(text);
  const cols = fontText(text).length * FONT_ADVANCE - 1;
  const top = Math.min(options.maxScale ?? 40, Math.floor(width / cols), Math.floor(height / FONT_HEIGHT));
  for (let scale = top; scale >= 1; scale -= 1) {
    const mid = Math.floor(scale / 2);
    const offsets = list.map((p) => ({ at: (p.dy * scale + mid) * width + p.dx * scale + mid, lit: p.lit ? 1 : 0 }));
    for (let y = 0; y + FONT_HEIGHT * scale <= height; y += 1)
      for (let x = 0; x + cols * scale <= width; x += 1) {
        const base = y * width + x;
        if (offsets.every((o) => ink[base + o.at] === o.lit)) return { x, y, scale };
      }
  }
  return undefined;
}
