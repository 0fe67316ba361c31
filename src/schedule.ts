import { createTask } from 'node-cron';
import type { ScheduledTask } from 'node-cron';
import type { Clock } from './clock.js';
import type { Logger } from './log.js';

/** The refresh plan the lifecycle arms after each sign-in: the cron and ahead-of-expiry timers live here. */
export interface RefreshPlan {
  /** Arms the ahead-of-expiry refresh for a token expiring at `expiresAt`; returns the next refresh time. */
  plan(expiresAt: number): number;
  clear(): void;
}

export interface SchedulerDeps {
  expression: string;
  /** The zone cron expressions are read in (TZ): "0 18 * * *" is 18:00 on the kiosk's wall. */
  timeZone: string;
  clock: Clock;
  log: Logger;
  /** Called when a refresh is due; the lifecycle decides whether one starts (`Lifecycle.scheduledRefresh`). */
  onDue(reason: 'schedule' | 'expiry'): void;
  /** KIOSK_SIGN_OUT_CRON and what to do at those times (end of a shift); none when unset. */
  signOut?: { readonly expression: string; onDue(): void };
}

/** Refresh this long before the access token expires, or a fifth of its life when that is shorter. */
const LEAD_MAX_MS = 5 * 60_000;
/** A cron timer asks for the next run again at least this often: a clock stepped back is noticed within it. */
const CRON_RECHECK_MS = 60_000;

interface CronTimerDeps {
  expression: string;
  timeZone: string;
  clock: Clock;
  log: Logger;
  onDue(): void;
}

/**
 * One node-cron expression, timed here: only node-cron's matcher is used, its runner is never
 * started. node-cron's runner trusts the wall clock between its timers: after a step back it sleeps
 * until the clock catches up (up to a day), and after a step forward of years (a Pi without RTC getting
 * NTP) it walks every slot it missed, blocking the event loop for minutes. Here the next run is asked
 * for again at least every CRON_RECHECK_MS, and a run whose time has passed is due once.
 */
class CronTimer {
  private task?: ScheduledTask;
  private timer?: NodeJS.Timeout;
  /** Epoch ms of the next run, while started. */
  nextAt?: number;

  constructor(private readonly d: CronTimerDeps) {}

  start(): void {
    if (this.task !== undefined) return;
    const log = this.d.log.child({ module: 'schedule' });
    // node-cron's default logger writes to stdout, which is the terminal display's screen.
    const quiet = { info: () => {}, debug: () => {}, warn: (m: string) => log.debug(m), error: (m: string | Error) => log.warn(String(m)) };
    this.task = createTask(this.d.expression, () => {}, { logger: quiet, timezone: this.d.timeZone });
    this.arm(this.task);
  }

  private arm(task: ScheduledTask): void {
    const next = task.getNextRuns(1)[0]?.getTime() ?? Infinity;
    this.nextAt = next;
    this.timer = this.d.clock.setTimeout(
      () => {
        if (this.d.clock.now() >= next) this.d.onDue();
        if (this.task === task) this.arm(task);
      },
      Math.min(CRON_RECHECK_MS, next - this.d.clock.now()),
    );
  }

  async stop(): Promise<void> {
    this.d.clock.clearTimeout(this.timer);
    this.nextAt = undefined;
    const task = this.task;
    this.task = undefined;
    await task?.destroy();
  }
}

/**
 * Silent refresh on the `KIOSK_REFRESH_CRON` schedule and ahead of token expiry (CONTRACT §1), and the
 * sign-outs of `KIOSK_SIGN_OUT_CRON`. The refresh cron lives from the first sign-in until the agent
 * stops; the expiry timer is re-armed after every sign-in or refresh; the sign-out cron runs from start.
 */
export class Scheduler implements RefreshPlan {
  private readonly refreshCron: CronTimer;
  private readonly signOutCron?: CronTimer;
  private started = false;
  private signOutStart?: NodeJS.Timeout;
  private expiryTimer?: NodeJS.Timeout;
  private expiryAt?: number;

  constructor(private readonly d: SchedulerDeps) {
    const { timeZone, clock, log } = d;
    this.refreshCron = new CronTimer({ expression: d.expression, timeZone, clock, log, onDue: () => d.onDue('schedule') });
    if (d.signOut !== undefined) this.signOutCron = new CronTimer({ ...d.signOut, timeZone, clock, log });
  }

  /**
   * The sign-out cron must also end a sign-in restored offline, so it starts now, after the current
   * turn of the event loop (the agent's boot goes first). The refresh cron waits for `startRefreshCron`.
   */
  start(): void {
    this.started = true;
    if (this.signOutCron !== undefined) this.signOutStart = this.d.clock.setTimeout(() => this.signOutCron?.start(), 0);
  }

  /**
   * Starts the refresh cron and returns the next refresh time. The agent calls it once its first frame
   * is drawn: the cron's first next-run computation is Intl's first formatter, which loads time-zone
   * data (15 to 25 ms) that neither a first code nor a restored "Signed in" need wait for. Until then
   * `plan` counts the ahead-of-expiry time alone.
   */
  startRefreshCron(): number {
    if (this.started) this.refreshCron.start();
    return this.nextRefreshAt();
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
    return Math.min(this.refreshCron.nextAt ?? Infinity, this.expiryAt ?? Infinity);
  }

  clear(): void {
    this.d.clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.expiryAt = undefined;
  }

  async stop(): Promise<void> {
    this.started = false;
    this.clear();
    this.d.clock.clearTimeout(this.signOutStart);
    await Promise.all([this.refreshCron.stop(), this.signOutCron?.stop()]);
  }
}
