import jsqr from 'jsqr';

/** jsqr is CommonJS typed as an ES module: its function is `module.exports` and also `module.exports.default`. */
const jsQR = jsqr.default;

/**
 * Reads a QR code back out of terminal output, as a phone would see it on the screen: the text
 * (half blocks ▀ ▄ █ and spaces, with ANSI SGR colours) is painted into an RGBA image, one cell
 * = 1 module across and 2 down, `PX` pixels per module, then decoded with jsQR. Decoding never
 * tries the inverted image, so a QR drawn with the wrong polarity fails here as it would on a phone.
 */

/** A QR read from a picture: its text, and the box its symbol (finder patterns included, quiet zone not) spans. */
export interface QrFound {
  readonly data: string;
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

/** jsQR's answer as a box: the extremes of the four corners it located. */
export function qrBox(found: { data: string; location: Record<string, { x: number; y: number }> }): QrFound {
  const corners = ['topLeftCorner', 'topRightCorner', 'bottomLeftCorner', 'bottomRightCorner'].map((k) => found.location[k]!);
  const xs = corners.map((c) => c.x);
  const ys = corners.map((c) => c.y);
  return { data: found.data, left: Math.min(...xs), right: Math.max(...xs), top: Math.min(...ys), bottom: Math.max(...ys) };
}

/** The terminal's own colours for text without SGR colours: light text on dark (the usual), or the reverse. */
export type Theme = 'dark' | 'light';

const PX = 4;
const THEMES: Record<Theme, { fg: number; bg: number }> = { dark: { fg: 204, bg: 24 }, light: { fg: 24, bg: 250 } };
/** Grey levels of the 16 ANSI colours (xterm defaults, as luminance). */
const NORMAL = [0, 61, 134, 195, 33, 71, 147, 229];
const BRIGHT = [127, 110, 178, 249, 92, 142, 224, 255];

interface Cell {
  ch: string;
  fg: number;
  bg: number;
}

/** The screen as cells: only what follows the last cursor-home (the last full frame) when there is one. */
function cells(text: string, theme: Theme): Cell[][] {
  const home = text.lastIndexOf('\x1b[H');
  const screen = home >= 0 ? text.slice(home + 3) : text;
  const def = THEMES[theme];
  let fg = def.fg;
  let bg = def.bg;
  let inverse = false;
  const grid: Cell[][] = [[]];
  const sgr = (params: number[]): void => {
    for (const p of params.length === 0 ? [0] : params) {
      if (p === 0) [fg, bg, inverse] = [def.fg, def.bg, false];
      else if (p === 7) inverse = true;
      else if (p === 27) inverse = false;
      else if (p >= 30 && p <= 37) fg = NORMAL[p - 30]!;
      else if (p >= 90 && p <= 97) fg = BRIGHT[p - 90]!;
      else if (p === 39) fg = def.fg;
      else if (p >= 40 && p <= 47) bg = NORMAL[p - 40]!;
      else if (p >= 100 && p <= 107) bg = BRIGHT[p - 100]!;
      else if (p === 49) bg = def.bg;
    }
  };
  const chars = [...screen];
  for (let i = 0; i < chars.length; i += 1) {
    const ch = chars[i]!;
    if (ch === '\x1b' && chars[i + 1] === '[') {
      let j = i + 2;
      while (j < chars.length && !/[@-~]/.test(chars[j]!)) j += 1;
      const body = chars.slice(i + 2, j).join('');
      if (chars[j] === 'm') sgr(body === '' ? [] : body.split(';').map(Number));
      i = j;
    } else if (ch === '\n') {
      grid.push([]);
    } else if (ch !== '\r') {
      grid[grid.length - 1]!.push(inverse ? { ch, fg: bg, bg: fg } : { ch, fg, bg });
    }
  }
  return grid;
}

/** Paints the cells: ▀ ▄ █ in the foreground colour, anything else (spaces, letters) in the background. */
export function toPixels(text: string, theme: Theme = 'dark'): { data: Uint8ClampedArray; width: number; height: number } {
  const grid = cells(text, theme);
  const columns = Math.max(1, ...grid.map((r) => r.length));
  const width = columns * PX;
  const height = grid.length * 2 * PX;
  const data = new Uint8ClampedArray(width * height * 4).fill(THEMES[theme].bg);
  const paint = (col: number, half: number, grey: number): void => {
    for (let y = half * PX; y < (half + 1) * PX; y += 1)
      for (let x = col * PX; x < (col + 1) * PX; x += 1) {
        const o = (y * width + x) * 4;
        data[o] = data[o + 1] = data[o + 2] = grey;
        data[o + 3] = 255;
      }
  };
  for (let y = 0; y < grid.length; y += 1)
    for (let x = 0; x < columns; x += 1) {
      const cell = grid[y]![x];
      const { fg, bg } = cell ?? THEMES[theme];
      const ch = cell?.ch ?? ' ';
      paint(x, 2 * y, ch === '█' || ch === '▀' ? fg : bg);
      paint(x, 2 * y + 1, ch === '█' || ch === '▄' ? fg : bg);
    }
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  return { data, width, height };
}

/** The text of the QR code shown in `text` (terminal output), or undefined when none can be read. */
export function decodeTerminalQr(text: string, theme: Theme = 'dark'): string | undefined {
  const { data, width, height } = toPixels(text, theme);
  return jsQR(data, width, height, { inversionAttempts: 'dontInvert' })?.data;
}
