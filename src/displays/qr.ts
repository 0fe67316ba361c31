// The encoder alone: the package's entry also loads its PNG, SVG and terminal renderers, which nothing here uses.
import { create } from 'qrcode/lib/core/qrcode.js';

/** A QR symbol's modules. `isDark` is false outside the symbol, so callers can draw a quiet zone by reading past the edge. */
export interface QrMatrix {
  /** Modules per side (21 for version 1, +4 per version). */
  readonly size: number;
  isDark(x: number, y: number): boolean;
}

/** Light modules around the symbol, as the QR standard asks; scanners need it to find the code. */
export const QUIET_ZONE = 4;

/** Encodes `text` with error correction M (survives ~15% damage: glare, a smudged screen). Throws when the text is too long for a QR code. */
export function qrMatrix(text: string): QrMatrix {
  const { modules } = create(text, { errorCorrectionLevel: 'M' });
  const size = modules.size;
  const data = Uint8Array.from(modules.data);
  return {
    size,
    isDark: (x, y) => x >= 0 && y >= 0 && x < size && y < size && data[y * size + x] === 1,
  };
}

/**
 * Runs the encoder once on a throwaway sign-in link. Its first run is cold, interpreted code (the mask
 * choice scores eight masks): 8–15 ms on a 2-core x64 against about 1 ms warm, several times both on a
 * Pi. Run while a first boot waits for its code, it leaves the code's own QR the warm cost.
 */
export function warmQrEncoder(): void {
  halfBlocks(qrMatrix('https://tenant.ciamlogin.com/00000000-0000-0000-0000-000000000000/oauth2/v2.0/deviceauth?otc=WARMING00'));
}

/**
 * Colours for the QR on an ANSI terminal: bright white foreground (SGR 97) for light modules,
 * black background (SGR 40) for dark ones. Pinning both keeps the contrast right whatever the
 * terminal's own theme is; 97 and 40 exist on the Linux console as well as on xterm-likes.
 */
export const QR_COLOURS = '\x1b[97;40m';
export const RESET = '\x1b[0m';

export interface HalfBlocks {
  readonly lines: readonly string[];
  /** Columns and rows the QR occupies on screen, quiet zone included. */
  readonly width: number;
  readonly height: number;
}

/**
 * The QR in half-block characters: one character cell per module across, two modules per cell
 * down (▀ top, ▄ bottom, █ both), so modules come out about square.
 *
 * Light modules and the quiet zone are drawn with the glyphs and dark modules are left blank.
 * Glyphs take the foreground colour and blanks the background, so on the usual dark-background
 * terminal (and in `docker logs`, where no colours are sent) this reads as dark modules on a light
 * field, the polarity phone cameras expect. With `ansi`, `QR_COLOURS` pins that polarity on any
 * terminal theme. An odd module count leaves half a row at the bottom; it is drawn light.
 */
export function halfBlocks(matrix: QrMatrix, options: { ansi?: boolean; quiet?: number } = {}): HalfBlocks {
  const quiet = options.quiet ?? QUIET_ZONE;
  const width = matrix.size + 2 * quiet;
  const lines: string[] = [];
  for (let y = -quiet; y < matrix.size + quiet; y += 2) {
    let line = '';
    for (let x = -quiet; x < matrix.size + quiet; x += 1) {
      const top = !matrix.isDark(x, y);
      const bottom = !matrix.isDark(x, y + 1);
      line += top ? (bottom ? '█' : '▀') : bottom ? '▄' : ' ';
    }
    lines.push(options.ansi === true ? `${QR_COLOURS}${line}${RESET}` : line);
  }
  return { lines, width, height: lines.length };
}
