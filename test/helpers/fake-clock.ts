import type { Clock } from '../../src/clock.js';

/** Time that moves only when told to; due timers fire in order as it does. */
export class FakeClock implements Clock {
  t = Date.parse('2025-01-01T14:30:00.250Z');
  readonly timers = new Map<object, { at: number; fn: () => void }>();
  now = (): number => this.t;
  setTimeout(fn: () => void, ms: number): NodeJS.Timeout {
    const handle = { unref: () => handle, ref: () => handle, hasRef: () => false };
    this.timers.set(handle, { at: this.t + Math.max(0, ms), fn });
    return handle as unknown as NodeJS.Timeout;
  }
  clearTimeout(h: NodeJS.Timeout | undefined): void {
    if (h !== undefined) this.timers.delete(h);
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers].filter(([, x]) => x.at <= end).sort(([, a], [, b]) => a.at - b.at)[0];
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }
}
