import { FONT_ADVANCE, FONT_HEIGHT, FONT_WIDTH, fontGlyph } from './font-ascii.js';
import type { QrMatrix } from './qr.js';
import { QUIET_ZONE } from './qr.js';

/** Colours by index; the canvas holds indices and `encodeFrame` turns them into device pixels. */
export const PALETTE: readonly (readonly [number, number, number])[] = [
  [255, 255, 255], // 0 paper
  [0, 0, 0], // 1 ink
  [72, 72, 72], // 2 secondary text (contrast 9.7:1 on paper)
  [160, 0, 0], // 3 faults (7.6:1)
  [0, 100, 30], // 4 signed in (7.3:1)
];
export const PAPER = 0;
export const INK = 1;
export const MUTED = 2;
export const FAULT = 3;
export const GOOD = 4;
export type Colour = number;

/** Rows from one line of text to the next, in font pixels: 9 glyph rows and 2 of leading. */
export const LINE_ROWS = FONT_HEIGHT + 2;

/** Width in screen pixels of `text` (already in font characters) drawn at `scale`. */
export const textWidth = (text: string, scale: number): number =>
  text.length === 0 ? 0 : (text.length * FONT_ADVANCE - (FONT_ADVANCE - FONT_WIDTH)) * scale;

/** How many characters fit in `width` pixels at `scale`. */
export const columnsIn = (width: number, scale: number): number =>
  Math.max(0, Math.floor((width + (FONT_ADVANCE - FONT_WIDTH) * scale) / (FONT_ADVANCE * scale)));

/** An off-screen picture in palette indices, one byte a pixel; drawing outside it is clipped. */
export class Canvas {
  readonly pixels: Uint8Array;

  constructor(readonly width: number, readonly height: number) {
    this.pixels = new Uint8Array(width * height);
  }

  clear(colour: Colour): void {
    this.pixels.fill(colour);
  }

  fillRect(x: number, y: number, w: number, h: number, colour: Colour): void {
    const x0 = Math.max(0, Math.floor(x));
    const y0 = Math.max(0, Math.floor(y));
    const x1 = Math.min(this.width, Math.floor(x + w));
    const y1 = Math.min(this.height, Math.floor(y + h));
    if (x1 <= x0) return;
    for (let row = y0; row < y1; row += 1) this.pixels.fill(colour, row * this.width + x0, row * this.width + x1);
  }

  /** Draws `text` (font characters) with its top-left corner at x, y; each font pixel is scale×scale. */
  text(text: string, x: number, y: number, scale: number, colour: Colour): void {
    for (let i = 0; i < text.length; i += 1) {
      const rows = fontGlyph(text[i]!);
      const left = x + i * FONT_ADVANCE * scale;
      for (let r = 0; r < FONT_HEIGHT; r += 1) {
        const bits = rows[r]!;
        if (bits === 0) continue;
        for (let c = 0; c < FONT_WIDTH; c += 1)
          if (bits & (1 << (FONT_WIDTH - 1 - c))) this.fillRect(left + c * scale, y + r * scale, scale, scale, colour);
      }
    }
  }

  /** The QR with its quiet zone on paper, `module` pixels a module; returns the side in pixels. */
  qr(matrix: QrMatrix, x: number, y: number, module: number): number {
    const side = (matrix.size + 2 * QUIET_ZONE) * module;
    this.fillRect(x, y, side, side, PAPER);
    const origin = QUIET_ZONE * module;
    for (let my = 0; my < matrix.size; my += 1)
      for (let mx = 0; mx < matrix.size; mx += 1)
        if (matrix.isDark(mx, my)) this.fillRect(x + origin + mx * module, y + origin + my * module, module, module, INK);
    return side;
  }
}

/** Where a line may break inside a long word such as a URL: after one of these. */
const BREAK_AFTER = '/?&=.-_:';

function breakPoint(word: string, columns: number): number {
  for (let i = columns; i > columns / 2; i -= 1) if (BREAK_AFTER.includes(word[i - 1]!)) return i;
  for (let i = columns; i > 1; i -= 1) if (word[i - 1] === '/') return i;
  return Math.max(1, columns);
}

/** Greedy word wrap to `columns` characters; words longer than a line break after / ? & . and the like. */
export function wrap(text: string, columns: number): string[] {
  const lines: string[] = [];
  let line = '';
  // A separator dot stays with the word after it, so no line ends in '·'.
  const words = text.split(/\s+/).filter(Boolean).join(' ').replace(/ · /g, ' ·\u0000').split(' ');
  for (let word of words.map((w) => w.replace('\u0000', ' '))) {
    if (line !== '' && line.length + 1 + word.length <= columns) {
      line += ` ${word}`;
      continue;
    }
    if (line !== '') lines.push(line);
    while (word.length > columns) {
      const cut = breakPoint(word, columns);
      lines.push(word.slice(0, cut));
      word = word.slice(cut);
    }
    line = word;
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** Text set at one scale, already broken into lines. */
export interface Fitted {
  readonly lines: readonly string[];
  readonly scale: number;
}

/**
 * Sets `text` in `width` pixels: the largest scale in [min, max] at which it takes the fewest lines
 * (up to `maxLines`), so one line at any scale in the range beats two at a bigger one. Text that
 * does not fit at `min` shrinks further, down to `smallest`; only there is the last line cut
 * short and marked with '…'.
 */
export function fitText(text: string, width: number, max: number, min: number, maxLines: number, smallest = 1): Fitted {
  const fits = (lines: readonly string[], scale: number, count: number): boolean =>
    lines.length <= count && lines.every((l) => textWidth(l, scale) <= width);
  const low = Math.max(1, Math.min(min, max));
  for (let lines = 1; lines <= maxLines; lines += 1)
    for (let scale = max; scale >= low; scale -= 1) {
      const wrapped = wrap(text, columnsIn(width, scale));
      if (fits(wrapped, scale, lines)) return { lines: wrapped, scale };
    }
  const floor = Math.max(1, Math.min(smallest, low));
  for (let scale = low - 1; scale >= floor; scale -= 1) {
    const wrapped = wrap(text, columnsIn(width, scale));
    if (fits(wrapped, scale, maxLines)) return { lines: wrapped, scale };
  }
  const columns = Math.max(1, columnsIn(width, floor));
  const kept = wrap(text, columns).slice(0, maxLines);
  const last = kept.length - 1;
  if (last >= 0 && wrap(text, columns).length > maxLines) kept[last] = `${kept[last]!.slice(0, Math.max(0, columns - 1))}…`;
  return { lines: kept, scale: floor };
}

/** Height in pixels of a block of lines at `scale` (no leading after the last line). */
export const blockHeight = (f: Fitted): number =>
  f.lines.length === 0 ? 0 : ((f.lines.length - 1) * LINE_ROWS + FONT_HEIGHT) * f.scale;
