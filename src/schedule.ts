import cron from 'node-cron';
import type { ScheduledTask } from 'node-cron';
import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import type { RefreshPlan } from './lifecycle.js';

export interface SchedulerDeps {
  expression: string;
  clock: Clock;
  log: Logger;
  /** Called when a refresh is due; the lifecycle ignores it unless signed in, and joins one in flight. */
  onDue(reason: 'schedule' | 'expiry'): void;
}

/** Refresh this long before the access token expires, or a fifth of its life when that is shorter. */
const LEAD_MAX_MS = 5 * 60_000;

/**
 * Silent refresh on the `KIOSK_REFRESH_CRON` schedule and ahead of token expiry (SPEC §1). The
 * cron job lives as long as the agent; the expiry timer is re-armed after every sign-in or refresh.
 */
export class Scheduler implements RefreshPlan {
  private task?: ScheduledTask;
  private expiryTimer?: NodeJS.Timeout;
  private expiryAt?: number;

  constructor(private readonly d: SchedulerDeps) {}

  start(): void {
    const log = this.d.log.child({ module: 'schedule' });
    // node-cron's default logger writes to stdout, which is the terminal display's screen.
    const quiet = { info: () => {}, debug: () => {}, warn: (m: string) => log.debug(m), error: (m: string | Error) => log.warn(String(m)) };
    this.task = cron.schedule(this.d.expression, () => this.d.onDue('schedule'), { noOverlap: true, logger: quiet });
  }

  plan(expiresAt: number): number {
    this.clear();
    const now = this.d.clock.now();
    const lead = Math.min(LEAD_MAX_MS, Math.max(0, expiresAt - now) / 5);
    this.expiryAt = Math.max(now, expiresAt - lead);
    this.expiryTimer = this.d.clock.setTimeout(() => this.d.onDue('expiry'), this.expiryAt - now);
    this.expiryTimer.unref?.();
    return this.nextRefreshAt();
  }

  nextRefreshAt(): number {
    const cronNext = this.task?.getNextRun()?.getTime() ?? Infinity;
    return Math.min(cronNext, this.expiryAt ?? Infinity);
  }

  clear(): void {
    this.d.clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.expiryAt = undefined;
  }

  async stop(): Promise<void> {
    this.clear();
    await this.task?.destroy();
    this.task = undefined;
  }
}
