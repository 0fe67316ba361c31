import { setTimeout as delay } from 'node:timers/promises';

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. Bounded, for tests only. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(everyMs);
  }
}
