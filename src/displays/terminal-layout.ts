import { largeText } from './block-font.js';
import { halfBlocks, qrMatrix, RESET } from './qr.js';
import type { HalfBlocks } from './qr.js';
import { formatCountdown } from './view.js';
import type { View } from './view.js';

/** Pure layout for the terminal display: a View and a screen size in, lines out. */

export interface ScreenSize {
  readonly columns: number;
  readonly rows: number;
}

const BOLD = '\x1b[1m';
/** Columns between the QR and the text beside it, and the least width that text column may have. */
const GAP = 2;
const MIN_SIDE = 24;
const LABEL = 6;

const strong = (text: string): string => (text === '' ? text : `${BOLD}${text}${RESET}`);

/** Cuts `text` to `width` characters, marking the cut with an ellipsis. */
export function fit(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  return width <= 0 ? '' : `${chars.slice(0, width - 1).join('')}…`;
}

/** Word-wraps `text` to `width`; words longer than a line (URLs) are broken. */
export function wrap(text: string, width: number): string[] {
  if (width <= 0) return [];
  const out: string[] = [];
  let line: string[] = [];
  for (const word of text.split(/\s+/).filter(Boolean)) {
    let chars = [...word];
    if (line.length > 0 && line.length + 1 + chars.length <= width) {
      line.push(' ', ...chars);
      continue;
    }
    if (line.length > 0) out.push(line.join(''));
    while (chars.length > width) {
      out.push(chars.slice(0, width).join(''));
      chars = chars.slice(width);
    }
    line = chars;
  }
  if (line.length > 0) out.push(line.join(''));
  return out;
}

/** "URL   https://…" with the value wrapped under itself. */
function labelled(label: string, value: string, width: number): string[] {
  const lines = wrap(value, Math.max(1, width - LABEL));
  return lines.map((l, i) => fit(`${(i === 0 ? label : '').padEnd(LABEL)}${l}`, width));
}

/** Who is signed in: "Username  ada@example.com", values wrapped under themselves, labels in one column. */
function identityLines(view: View, width: number): string[] {
  const rows = view.identity ?? [];
  const pad = Math.min(Math.max(0, ...rows.map((r) => r.label.length)) + 2, Math.floor(width / 2));
  return rows.flatMap((r) =>
    wrap(r.value, Math.max(1, width - pad)).map((l, i) => fit(`${(i === 0 ? fit(r.label, pad - 1) : '').padEnd(pad)}${l}`, width)),
  );
}

/** The text part of the screen: headline, who is signed in, code, URL, countdown, account, status. */
function info(view: View, width: number, withCode: boolean): string[] {
  const out = [strong(fit(view.headline, width))];
  if (view.accountName !== undefined && !view.headline.includes(view.accountName))
    out.push(...labelled('Account', view.accountName, width));
  const who = identityLines(view, width);
  if (who.length > 0) out.push('', ...who);
  if (view.userCode !== undefined) {
    out.push('');
    if (withCode) out.push(strong(fit(`${'Code'.padEnd(LABEL)}${view.userCode}`, width)));
    if (view.verificationUri !== undefined) out.push(...labelled('URL', view.verificationUri, width));
    if (view.secondsLeft !== undefined) out.push(fit(`${'Left'.padEnd(LABEL)}${formatCountdown(view.secondsLeft)}`, width));
  }
  const status = wrap(view.status, width);
  if (status.length > 0) out.push('', ...status);
  return out;
}

function beside(qr: HalfBlocks, right: readonly string[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i < Math.max(qr.height, right.length); i += 1) {
    const left = qr.lines[i] ?? ' '.repeat(qr.width);
    const text = right[i] ?? '';
    lines.push(text === '' ? left : `${left}${' '.repeat(GAP)}${text}`);
  }
  return lines;
}

/**
 * The full screen for a TTY of `size`, at most `size.rows` lines none wider than `size.columns`.
 * With a code on screen it tries, in order: the code in block letters over the QR with the text
 * beside it, the same stacked, then both again with the code in bold instead of block letters;
 * when the QR fits none of them it says so and still shows the code and URL.
 */
export function ttyLines(view: View, size: ScreenSize): string[] {
  const columns = Math.max(1, Math.floor(size.columns));
  const rows = Math.max(1, Math.floor(size.rows));
  const title = strong(fit(view.title, columns));
  if (view.userCode === undefined || view.qrText === undefined)
    return [title, '', ...info(view, columns, true)].slice(0, rows);

  const qr = halfBlocks(qrMatrix(view.qrText), { ansi: true });
  const big = largeText(view.userCode);
  const heads: string[][] = [[title]];
  if (big !== undefined && [...(big[0] ?? '')].length <= columns) heads.unshift([title, ...big]);
  const side = columns - qr.width - GAP;
  for (const head of heads) {
    const withCode = head.length === 1;
    const layouts = [
      side >= MIN_SIDE ? [...head, ...beside(qr, info(view, side, withCode))] : undefined,
      qr.width <= columns ? [...head, ...info(view, columns, withCode), '', ...qr.lines] : undefined,
    ];
    const fitting = layouts.find((l) => l !== undefined && l.length <= rows);
    if (fitting !== undefined) return fitting;
  }
  const needs = `${qr.width}x${qr.height + 1}`;
  return [title, fit(`Screen too small for the QR code (needs ${needs}, has ${columns}x${rows})`, columns), '', ...info(view, columns, true)]
    .slice(0, rows);
}

/**
 * The plain-text block for a target that is not a TTY (a pipe, `docker logs`, a file): no ANSI,
 * absolute times instead of countdowns, and the QR (light modules as glyphs, see `halfBlocks`).
 * The text changes only when something other than a countdown does.
 */
export function plainLines(view: View): string[] {
  const lines = [`${view.title} · ${view.state}`, view.headline];
  if (view.accountName !== undefined && !view.headline.includes(view.accountName)) lines.push(`Account: ${view.accountName}`);
  for (const row of view.identity ?? []) lines.push(`${row.label}: ${row.value}`);
  if (view.userCode !== undefined) lines.push(`Code: ${view.userCode}`);
  if (view.verificationUri !== undefined) lines.push(`URL: ${view.verificationUri}`);
  if (view.steadyStatus !== '') lines.push(view.steadyStatus);
  if (view.userCode !== undefined && view.qrText !== undefined) lines.push(...halfBlocks(qrMatrix(view.qrText)).lines);
  return lines;
}
