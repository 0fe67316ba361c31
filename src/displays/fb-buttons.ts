import type { Canvas } from './fb-canvas.js';
import { blockHeight, fitText, INK, LINE_ROWS, PAPER, textWidth } from './fb-canvas.js';
import { FONT_HEIGHT, fontText } from './font-ascii.js';

/** One button on the framebuffer; the primary one is filled, the other outlined. */
export interface Button {
  readonly label: string;
  readonly primary: boolean;
}

/** What the screen offers a touch: its buttons, and the question above them (a confirm step). */
export interface TouchUi {
  readonly question?: string;
  readonly buttons: readonly Button[];
}

/** Where a button was drawn, in screen pixels. */
export interface Hit {
  readonly label: string;
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/** A finger's least target (CONTRACT §9: 48 px), whatever the scale. */
const MIN_TARGET = 48;

interface Set {
  readonly scale: number;
  readonly widths: readonly number[];
  readonly h: number;
  readonly gap: number;
}

/** Sizes the buttons for `width`: their text as large as the status line, smaller when the row is too wide. */
function setButtons(ui: TouchUi, width: number, s: number): Set {
  const gap = 6 * s;
  for (let scale = Math.ceil(1.5 * s); ; scale -= 1) {
    const widths = ui.buttons.map((b) => Math.max(MIN_TARGET, textWidth(fontText(b.label), scale) + 12 * s));
    const total = widths.reduce((a, w) => a + w, 0) + gap * (widths.length - 1);
    if (total <= width || scale <= 1) return { scale, widths, h: Math.max(MIN_TARGET, FONT_HEIGHT * scale + 6 * s), gap };
  }
}

/** The height the question and the buttons take across `width`. */
export function buttonsHeight(ui: TouchUi, width: number, s: number): number {
  const set = setButtons(ui, width, s);
  const question = ui.question === undefined ? 0 : blockHeight(fitText(fontText(ui.question), width, set.scale, s, 2, s)) + 3 * s;
  return question + set.h;
}

/** Draws the question and a centred row of buttons in `box`; returns where each button is. */
export function drawButtons(c: Canvas, ui: TouchUi, box: { x: number; y: number; w: number }, s: number): Hit[] {
  const set = setButtons(ui, box.w, s);
  let y = box.y;
  if (ui.question !== undefined) {
    const q = fitText(fontText(ui.question), box.w, set.scale, s, 2, s);
    q.lines.forEach((line, l) => c.text(line, box.x + Math.floor((box.w - textWidth(line, q.scale)) / 2), y + l * LINE_ROWS * q.scale, q.scale, INK));
    y += blockHeight(q) + 3 * s;
  }
  const total = set.widths.reduce((a, w) => a + w, 0) + set.gap * (set.widths.length - 1);
  let x = box.x + Math.max(0, Math.floor((box.w - total) / 2));
  const border = Math.max(2, Math.floor(s / 2));
  return ui.buttons.map((b, i) => {
    const w = set.widths[i]!;
    c.fillRect(x, y, w, set.h, INK);
    if (!b.primary) c.fillRect(x + border, y + border, w - 2 * border, set.h - 2 * border, PAPER);
    const text = fontText(b.label);
    const tx = x + Math.floor((w - textWidth(text, set.scale)) / 2);
    c.text(text, tx, y + Math.floor((set.h - FONT_HEIGHT * set.scale) / 2), set.scale, b.primary ? PAPER : INK);
    const hit = { label: b.label, x, y, w, h: set.h };
    x += w + set.gap;
    return hit;
  });
}
