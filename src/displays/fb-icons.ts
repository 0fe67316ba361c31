import type { Canvas, Colour } from './fb-canvas.js';
import { FAULT, GOOD, MUTED, PAPER } from './fb-canvas.js';
import type { AgentState } from '../state.js';

/** A filled circle centred on cx, cy. */
function disc(c: Canvas, cx: number, cy: number, r: number, colour: Colour): void {
  for (let dy = -r; dy <= r; dy += 1) {
    const half = Math.floor(Math.sqrt(r * r - dy * dy));
    c.fillRect(cx - half, cy + dy, 2 * half + 1, 1, colour);
  }
}

/** A thick straight line, stamped as squares of side `t` along its length. */
function line(c: Canvas, x0: number, y0: number, x1: number, y1: number, t: number, colour: Colour): void {
  const steps = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0)));
  for (let i = 0; i <= steps; i += 1) {
    const x = x0 + ((x1 - x0) * i) / steps;
    const y = y0 + ((y1 - y0) * i) / steps;
    c.fillRect(Math.round(x - t / 2), Math.round(y - t / 2), t, t, colour);
  }
}

/** Which states carry a symbol above their headline: a tick, an exclamation mark, a pause. */
export const hasIcon = (state: AgentState): boolean => state === 'signed_in' || state === 'error' || state === 'offline';

/** Draws the state's symbol in a circle of diameter `size` with its top-left corner at x, y. */
export function drawIcon(c: Canvas, state: AgentState, x: number, y: number, size: number): void {
  const r = Math.floor(size / 2);
  const cx = x + r;
  const cy = y + r;
  const t = Math.max(2, Math.round(size / 9));
  if (state === 'signed_in') {
    disc(c, cx, cy, r, GOOD);
    line(c, cx - r * 0.45, cy + r * 0.02, cx - r * 0.12, cy + r * 0.35, t, PAPER);
    line(c, cx - r * 0.12, cy + r * 0.35, cx + r * 0.48, cy - r * 0.3, t, PAPER);
  } else if (state === 'error') {
    disc(c, cx, cy, r, FAULT);
    line(c, cx, cy - r * 0.5, cx, cy + r * 0.12, t, PAPER);
    c.fillRect(cx - t / 2, cy + r * 0.38, t, t, PAPER);
  } else if (state === 'offline') {
    disc(c, cx, cy, r, MUTED);
    for (const dx of [-0.4, 0, 0.4]) c.fillRect(cx + r * dx - t / 2, cy - t / 2, t, t, PAPER);
  }
}
