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
/** The cron timer asks for the next run again at least this often: a clock stepped back is noticed within it. */
const CRON_RECHECK_MS = 60_000;

/**
 * Silent refresh on the `KIOSK_REFRESH_CRON` schedule and ahead of token expiry (SPEC §1). The
 * cron job lives from the first sign-in until the agent stops; the expiry timer is re-armed after every
 * sign-in or refresh.
 */
export class Scheduler implements RefreshPlan {
  private task?: ScheduledTask;
  private started = false;
  private cronTimer?: NodeJS.Timeout;
  private cronAt?: number;
  private expiryTimer?: NodeJS.Timeout;
  private expiryAt?: number;

  constructor(private readonly d: SchedulerDeps) {}

  /**
   * The cron job itself is made by the first `plan()`: its schedule only matters once signed in, and
   * its first next-run computation loads time-zone data (tens of ms) that the first code need not wait for.
   */
  start(): void {
    this.started = true;
  }

  plan(expiresAt: number): number {
    this.clear();
    if (this.started) this.task ??= this.schedule();
    const now = this.d.clock.now();
    const lead = Math.min(LEAD_MAX_MS, Math.max(0, expiresAt - now) / 5);
    this.expiryAt = Math.max(now, expiresAt - lead);
    this.expiryTimer = this.d.clock.setTimeout(() => this.d.onDue('expiry'), this.expiryAt - now);
    this.expiryTimer.unref?.();
    return this.nextRefreshAt();
  }

  nextRefreshAt(): number {
    return Math.min(this.cronAt ?? Infinity, this.expiryAt ?? Infinity);
  }

  clear(): void {
    this.d.clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.expiryAt = undefined;
  }

  private schedule(): ScheduledTask {
    const log = this.d.log.child({ module: 'schedule' });
    // node-cron's default logger writes to stdout, which is the terminal display's screen.
    const quiet = { info: () => {}, debug: () => {}, warn: (m: string) => log.debug(m), error: (m: string | Error) => log.warn(String(m)) };
    // Only node-cron's matcher is used: its runner is never started (see `armCron`).
    const task = cron.createTask(this.d.expression, () => {}, { logger: quiet });
    this.armCron(task);
    return task;
  }

  /**
   * node-cron's runner trusts the wall clock between its timers: after a step back it sleeps until the
   * clock catches up (up to a day), and after a step forward of years (a Pi without RTC getting NTP) it
   * walks every slot it missed, blocking the event loop for minutes. Here the next run is asked for
   * again at least every CRON_RECHECK_MS, and a run whose time has passed is due once.
   */
  private armCron(task: ScheduledTask): void {
    const next = task.getNextRuns(1)[0]?.getTime() ?? Infinity;
    this.cronAt = next;
    this.cronTimer = this.d.clock.setTimeout(
      () => {
        if (this.d.clock.now() >= next) this.d.onDue('schedule');
        this.armCron(task);
      },
      Math.min(CRON_RECHECK_MS, next - this.d.clock.now()),
    );
  }

  async stop(): Promise<void> {
    this.started = false;
    this.clear();
    this.d.clock.clearTimeout(this.cronTimer);
    this.cronAt = undefined;
    await this.task?.destroy();
    this.task = undefined;
  }
}
