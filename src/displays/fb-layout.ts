import { buttonsHeight, drawButtons } from './fb-buttons.js';
import type { Hit, TouchUi } from './fb-buttons.js';
import type { Canvas, Colour, Fitted } from './fb-canvas.js';
import { blockHeight, FAULT, fitText, GOOD, INK, LINE_ROWS, MUTED, PAPER, textWidth } from './fb-canvas.js';
import { drawIcon, hasIcon } from './fb-icons.js';
import { FONT_HEIGHT, fontText } from './font-ascii.js';
import type { QrMatrix } from './qr.js';
import { QUIET_ZONE } from './qr.js';
import { formatCountdown } from './view.js';
import type { View } from './view.js';

interface Box {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/** One block of text in a column: its largest and smallest scale, how many lines it may take. */
interface Item {
  readonly text: string;
  readonly colour: Colour;
  max: number;
  readonly min: number;
  readonly lines: number;
  /** Space above the item, in units of the base scale. */
  readonly before: number;
  /** Higher keeps its size longer when the column is too short. */
  readonly weight?: number;
  /** Left out when the column is too short even at the smallest sizes. */
  readonly optional?: boolean;
}

/**
 * The scale of small print (title, labels, status): 2 on a 480×320 Pi touchscreen, 3 on 800×480,
 * 4 on 1280×720, 6 on 1920×1080. Everything else is a multiple of it.
 */
export const baseScale = (width: number, height: number): number => Math.max(1, Math.floor(Math.min(width / 240, height / 160)));

/** Items set at their final sizes, and the height they take. */
interface Column {
  readonly items: readonly Item[];
  readonly fitted: readonly Fitted[];
  readonly height: number;
}

/**
 * Fits `items` into a column `width` × `height`. When they are too tall the biggest (by scale /
 * weight) shrinks first, then optional ones are dropped.
 */
function fitColumn(source: readonly Item[], width: number, height: number, s: number): Column {
  const items = source.map((i) => ({ ...i }));
  for (;;) {
    const fitted = items.map((i) => fitText(i.text, width, i.max, i.min, i.lines));
    const total = fitted.reduce((sum, f, n) => sum + blockHeight(f) + (n === 0 ? 0 : items[n]!.before * s), 0);
    const rank = (x: number): number => fitted[x]!.scale / (items[x]!.weight ?? 1);
    let k = -1;
    fitted.forEach((f, n) => {
      if (f.scale > items[n]!.min && (k < 0 || rank(n) > rank(k))) k = n;
    });
    if (total <= height || (k < 0 && !items.some((i) => i.optional === true))) return { items, fitted, height: total };
    if (k >= 0) items[k]!.max = fitted[k]!.scale - 1;
    else items.splice(items.findIndex((i) => i.optional === true), 1);
  }
}

/** Draws a fitted column from `top`, each line at the box's left edge or centred in it. */
function drawColumn(c: Canvas, set: Column, box: Box, top: number, s: number, align: 'left' | 'center'): void {
  let y = top;
  set.fitted.forEach((f, n) => {
    if (n > 0) y += set.items[n]!.before * s;
    f.lines.forEach((line, l) => {
      const x = align === 'left' ? box.x : box.x + Math.floor((box.w - textWidth(line, f.scale)) / 2);
      c.text(line, x, y + l * LINE_ROWS * f.scale, f.scale, set.items[n]!.colour);
    });
    y += blockHeight(f);
  });
}

/** Sets `items` in `box`, centred vertically. */
function column(c: Canvas, items: readonly Item[], box: Box, s: number, align: 'left' | 'center'): void {
  const set = fitColumn(items, box.w, box.h, s);
  drawColumn(c, set, box, box.y + Math.max(0, Math.floor((box.h - set.height) / 2)), s, align);
}

/**
 * The sign-in screen: QR on the right, the words to type beside it; on a portrait screen the QR on
 * top, at least half the width, and the words under it (CONTRACT §9).
 */
function awaiting(c: Canvas, view: View, qr: QrMatrix | undefined, body: Box, s: number): void {
  let text = body;
  const wide = body.w >= body.h;
  if (qr !== undefined) {
    const modules = qr.size + 2 * QUIET_ZONE;
    const room = wide ? Math.min(body.h, Math.floor(body.w * 0.5)) : Math.min(body.w, Math.floor(body.h * 0.55));
    const module = Math.floor(room / modules);
    if (module >= 1) {
      const side = module * modules;
      if (wide) {
        c.qr(qr, body.x + body.w - side, body.y + Math.floor((body.h - side) / 2), module);
        text = { ...body, w: body.w - side - s };
      } else {
        c.qr(qr, body.x + Math.floor((body.w - side) / 2), body.y, module);
        text = { ...body, y: body.y + side, h: body.h - side };
      }
    } else qr = undefined;
  }
  const items: Item[] = [{ text: fontText(view.headline), colour: INK, max: 2 * s, min: s, lines: 1, before: 0 }];
  if (view.verificationUri !== undefined) {
    const label = qr === undefined ? 'On your phone, go to' : 'Scan the QR or go to';
    items.push({ text: label, colour: MUTED, max: s, min: s, lines: 2, before: 3, optional: true });
    items.push({ text: fontText(view.verificationUri), colour: INK, max: 2 * s, min: s, lines: 4, before: 1 });
  }
  if (view.userCode !== undefined) {
    const label = view.verificationUri === undefined ? 'Enter the code' : 'and enter the code';
    items.push({ text: label, colour: MUTED, max: s, min: s, lines: 2, before: 3, optional: true });
    items.push({ text: fontText(view.userCode), colour: INK, max: 6 * s, min: s, lines: 2, before: 1, weight: 3 });
  }
  if (view.secondsLeft !== undefined) {
    const colour = view.secondsLeft < 60 ? FAULT : INK;
    items.push({ text: `Expires in ${formatCountdown(view.secondsLeft)}`, colour, max: 2 * s, min: s, lines: 1, before: 3 });
  }
  column(c, items, text, s, wide ? 'left' : 'center');
}

/**
 * Every other state: a symbol for some, the headline large, who is signed in (one line per claim),
 * the status under it; centred as one group. Claims that do not fit go from the last one up.
 */
function message(c: Canvas, view: View, body: Box, s: number): void {
  const who = view.identity ?? [];
  const icon = hasIcon(view.state) ? Math.min(Math.floor(body.h / (who.length > 0 ? 5 : 3)), (who.length > 0 ? 16 : 28) * s) : 0;
  const gap = icon > 0 ? 5 * s : 0;
  const colour = view.state === 'error' ? FAULT : view.state === 'signed_in' ? GOOD : INK;
  const rows: Item[] = who.map((row, n) => ({
    text: fontText(`${row.label}: ${row.value}`), colour: INK, max: s, min: s, lines: 2, before: n === 0 ? 4 : 1,
  }));
  const items = (kept: number): Item[] => [
    { text: fontText(view.headline), colour, max: 4 * s, min: s, lines: 3, before: 0, weight: 2 },
    ...rows.slice(0, kept),
    { text: fontText(view.status), colour: INK, max: Math.ceil(1.5 * s), min: s, lines: 4, before: 3 },
  ];
  let set = fitColumn(items(rows.length), body.w, body.h - icon - gap, s);
  for (let kept = rows.length - 1; kept >= 0 && set.height > body.h - icon - gap; kept -= 1)
    set = fitColumn(items(kept), body.w, body.h - icon - gap, s);
  const top = body.y + Math.max(0, Math.floor((body.h - icon - gap - set.height) / 2));
  if (icon > 0) drawIcon(c, view.state, body.x + Math.floor((body.w - icon) / 2), top, icon);
  drawColumn(c, set, body, top + icon + gap, s, 'center');
}

/**
 * The parts of the status line the sign-in screen does not already show in large type (the
 * "open URL and enter CODE" hint and the countdown): a decline notice, say. Often nothing.
 */
function unsaid(view: View): string {
  const shown = (part: string): boolean =>
    (view.userCode !== undefined && part.includes(view.userCode)) || /^expires in \d/.test(part);
  return view.status.split(' · ').filter((part) => !shown(part)).join(' · ');
}

/** The title bar's words: without the product name when the kiosk's own name and location need the room. */
function titleText(title: string, width: number, s: number): string {
  const full = fontText(title);
  const text = textWidth(full, s) <= width ? full : fontText(title.replace(/^kiosk-agent · /, ''));
  return fitText(text, width, s, s, 1, s).lines[0] ?? '';
}

/**
 * Paints one view on the canvas: a title bar (product and device id), then the state's screen;
 * the sign-in screen ends with what is left of the status line at the foot, the others with the
 * touchscreen's buttons (`ui`) when there are any. Dark on light throughout, so the QR is dark
 * modules on a light field as phone cameras expect. Pure: the same view and buttons always give the
 * same pixels. Returns where the buttons are.
 */
export function paint(c: Canvas, view: View, qr: QrMatrix | undefined, ui?: TouchUi): Hit[] {
  const { width, height } = c;
  const s = baseScale(width, height);
  const m = 3 * s;
  c.clear(PAPER);
  const bar = (FONT_HEIGHT + 4) * s;
  c.fillRect(0, 0, width, bar, INK);
  c.text(titleText(view.title, width - 2 * m, s), m, 2 * s, s, PAPER);
  const signIn = view.state === 'awaiting_sign_in' && (view.userCode !== undefined || qr !== undefined);
  let bottom = height - m;
  const extra = signIn ? unsaid(view) : '';
  if (extra !== '') {
    const status = fitText(fontText(extra), width - 2 * m, s, s, 2, s);
    bottom -= blockHeight(status);
    status.lines.forEach((line, l) => c.text(line, m, bottom + l * LINE_ROWS * status.scale, status.scale, MUTED));
    c.fillRect(m, bottom - m, width - 2 * m, Math.max(1, Math.floor(s / 2)), MUTED);
    bottom -= 2 * m;
  }
  let hits: Hit[] = [];
  if (!signIn && ui !== undefined && ui.buttons.length > 0) {
    bottom -= buttonsHeight(ui, width - 2 * m, s);
    hits = drawButtons(c, ui, { x: m, y: bottom, w: width - 2 * m }, s);
    bottom -= 2 * m;
  }
  const body = { x: m, y: bar + m, w: width - 2 * m, h: Math.max(0, bottom - bar - m) };
  if (signIn) awaiting(c, view, qr, body, s);
  else message(c, view, body, s);
  return hits;
}
