/** Time and timers come in through this seam so that schedules can be reasoned about and tested. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): NodeJS.Timeout;
  clearTimeout(t: NodeJS.Timeout | undefined): void;
}

/** setTimeout overflows above 2^31-1 ms (about 24.8 days) and fires at once; clamp instead. */
const MAX_DELAY = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.min(Math.max(0, ms), MAX_DELAY)),
  clearTimeout: (t) => clearTimeout(t),
};

/** A promise that resolves after `ms` on `clock`, or at once when `signal` aborts. Never rejects. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = clock.setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clock.clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/**
 * True when `p` settled within `ms` on `clock` (a rejection counts as settled); false when time ran out
 * first. `unref`: the wait alone does not keep the process alive.
 */
export async function within(p: Promise<unknown>, ms: number, clock: Clock = systemClock, unref = false): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = clock.setTimeout(() => resolve(false), Math.max(0, ms));
    if (unref) timer.unref();
  });
  try {
    return await Promise.race([p.then(() => true, () => true), late]);
  } finally {
    clock.clearTimeout(timer);
  }
}
