import { sleep } from './clock.js';
import type { Clock } from './clock.js';
import type { Attempt, Auth } from './auth/auth.js';
import { KEYS_UNREACHABLE } from './auth/provider-errors.js';
import type { SignInMode } from './config.js';
import type { RefreshPlan } from './schedule.js';
import type { Logger } from './log.js';
import type { Machine } from './state.js';
import { NOT_SIGNED_IN, SignInSteps, VERIFYING } from './sign-in-steps.js';
import type { Timings } from './sign-in-steps.js';

export { DEFAULT_TIMINGS, NOT_SIGNED_IN } from './sign-in-steps.js';
export type { Timings } from './sign-in-steps.js';

export interface LifecycleDeps {
  machine: Machine;
  auth: Pick<Auth, 'silent' | 'deviceCode' | 'signOut' | 'cachedAccount' | 'cacheFault' | 'replaceLockedCache'>;
  schedule: RefreshPlan;
  clock: Clock;
  log: Logger;
  timings: Timings;
  /** `on_request`: no code until one is asked for (`restartSignIn`). */
  signIn: SignInMode;
  /** The backoff's jitter (tests fix it). */
  random?: () => number;
}

type Pursuit = 'restore' | 'refresh';

/**
 * Drives the state machine through CONTRACT §1: restore at boot, device code when needed, silent
 * refresh, and the retries in between. One task runs at a time; starting another cancels it,
 * and a refresh already running is joined, never started twice.
 */
export class Lifecycle {
  private task?: AbortController;
  private refreshing?: Promise<Attempt['kind']>;
  /** Callers that joined a running refresh: told the outcome of its next attempt. */
  private readonly joiners: Array<(kind: Attempt['kind']) => void> = [];
  /** Cuts short the latest retry wait, so the next attempt comes now (a no-op once that wait is over). */
  private retryNow?: () => void;
  private readonly log: Logger;
  private readonly steps: SignInSteps;

  constructor(private readonly d: LifecycleDeps) {
    this.log = d.log.child({ module: 'lifecycle' });
    this.steps = new SignInSteps(d);
  }

  start(): void {
    this.run(async (signal) => {
      const cached = await this.d.auth.cachedAccount();
      if (!cached && this.d.auth.cacheFault()) return this.awaitCacheKey(signal);
      if (!cached) return this.offerSignIn(signal);
      // Named only when its ID token verifies against the saved keys: never an unverified name.
      this.d.machine.go('restoring', cached.account ? { account: cached.account } : {});
      await this.pursue('restore', signal);
    });
  }

  /**
   * Refreshes now (schedule, expiry or operator); resolves with the first attempt's result. A refresh
   * already running is joined, never doubled: the caller gets the outcome of its attempt in flight, or
   * of one made at once in place of the rest of a backoff (an operator's "refresh" means now).
   */
  refresh(): Promise<Attempt['kind'] | 'not_signed_in'> {
    if (this.refreshing) {
      const next = new Promise<Attempt['kind']>((resolve) => this.joiners.push(resolve));
      this.retryNow?.();
      return next;
    }
    if (this.d.machine.snapshot.state !== 'signed_in') return Promise.resolve('not_signed_in');
    let first!: (kind: Attempt['kind']) => void;
    const firstResult = new Promise<Attempt['kind']>((resolve) => (first = resolve));
    this.run((signal) =>
      this.pursue('refresh', signal, first).finally(() => {
        if (this.refreshing === firstResult) this.refreshing = undefined;
      }),
    );
    this.refreshing = firstResult;
    return firstResult;
  }

  /**
   * A refresh the schedule asks for (cron or ahead of expiry): only while signed in, and never cutting a
   * running refresh's backoff short (only an operator's `refresh` means now). Returns whether it started one.
   */
  scheduledRefresh(): boolean {
    if (this.refreshing || this.d.machine.snapshot.state !== 'signed_in') return false;
    void this.refresh();
    return true;
  }

  /**
   * Forgets the account and shows a fresh code, or waits to be asked for one. `reason` names who asked
   * in the `signed_out` event: `operator` (MQTT), `kiosk_page` or `touchscreen` (the person at the
   * screen), `schedule`.
   */
  async signOut(reason: 'operator' | 'kiosk_page' | 'touchscreen' | 'schedule' = 'operator'): Promise<void> {
    this.cancel();
    await this.steps.forget(reason);
    this.run((signal) => this.offerSignIn(signal));
  }

  /**
   * The end of a shift (KIOSK_SIGN_OUT_CRON): a sign-out when an account is cached (signed in, being
   * restored, or waiting for the network with it). With none, nothing happens and nothing is recorded,
   * so a code on screen stays. Resolves with whether it signed out.
   */
  async signOutOnSchedule(): Promise<boolean> {
    if (!(await this.d.auth.cachedAccount())) return false;
    await this.signOut('schedule');
    return true;
  }

  /** Drops the code on screen and asks for a fresh one (whose sign-in may replace a cache locked under another key). */
  restartSignIn(): void {
    this.d.auth.replaceLockedCache();
    this.run((signal) => this.signIn(signal));
  }

  stop(): void {
    this.cancel();
  }

  private cancel(): void {
    this.task?.abort();
    this.task = undefined;
    this.refreshing = undefined;
    for (const join of this.joiners.splice(0)) join('cancelled');
    this.d.schedule.clear();
  }

  private run(job: (signal: AbortSignal) => Promise<void>): void {
    this.cancel();
    const task = (this.task = new AbortController());
    job(task.signal).catch((e: unknown) => {
      this.log.error({ err: e }, 'sign-in task failed unexpectedly; starting over');
      if (!task.signal.aborted) this.d.clock.setTimeout(() => !task.signal.aborted && this.run((s) => this.offerSignIn(s)), this.d.timings.errorRetryMs);
    });
  }

  /** With nobody signed in: a code at once (`auto`), or "not signed in" until one is asked for (`on_request`). */
  private async offerSignIn(signal: AbortSignal): Promise<void> {
    if (this.d.signIn === 'auto') return this.signIn(signal);
    if (!signal.aborted) this.d.machine.go('awaiting_sign_in', { detail: NOT_SIGNED_IN });
  }

  /**
   * The cache on disk is encrypted under another KIOSK_CACHE_KEY: `error`, and no fresh code whose sign-in
   * would replace it. Ends when the file reads (put right, or the right key after a restart), is gone, or
   * the operator asks for a fresh sign-in (`restart_sign_in`).
   */
  private async awaitCacheKey(signal: AbortSignal): Promise<void> {
    for (let error = this.d.auth.cacheFault(); error; error = this.d.auth.cacheFault()) {
      await this.steps.wait('error', { error }, this.d.timings.errorRetryMs, signal);
      if (signal.aborted) return;
      if (await this.d.auth.cachedAccount()) return this.pursue('restore', signal);
    }
    return this.offerSignIn(signal);
  }

  private async signIn(signal: AbortSignal): Promise<void> {
    const backoff = this.steps.backoff();
    const onRequest = this.d.signIn === 'on_request';
    // A wait cut short by cancellation ends the loop here: a cancelled task never asks for another code.
    while (!signal.aborted) {
      const result = await this.d.auth.deviceCode((code) => this.steps.showCode(code, signal), signal);
      if (signal.aborted || result.kind === 'cancelled') return;
      switch (result.kind) {
        case 'ok':
          return this.steps.signedIn(result.tokens, 'sign_in_succeeded');
        case 'expired':
          this.d.machine.record('code_expired');
          if (onRequest) return this.offerSignIn(signal);
          backoff.reset();
          continue;
        case 'declined': {
          this.d.machine.record('sign_in_failed', { reason: 'declined' });
          const next = onRequest ? 'ask again to sign in' : 'a new code follows';
          await this.steps.wait('awaiting_sign_in', { detail: `Sign-in was declined; ${next}` }, this.d.timings.declinePauseMs, signal);
          if (onRequest) return this.offerSignIn(signal);
          continue;
        }
        case 'network':
          // Approved, but the ID token cannot be checked yet: the tokens are cached, so wait for the keys, not for a new code.
          if (result.code === KEYS_UNREACHABLE) {
            await this.steps.wait('offline', { detail: VERIFYING }, backoff.next(result.retryAfterMs), signal);
            return this.pursue('restore', signal);
          }
          this.d.machine.record('sign_in_failed', { reason: result.code });
          await this.steps.wait('offline', { detail: 'Waiting for network' }, backoff.next(result.retryAfterMs), signal);
          continue;
        case 'interaction_required':
        case 'fatal': {
          const error = result.kind === 'fatal' ? result.fault : { code: result.code, message: 'the provider refused the device code' };
          this.d.machine.record('sign_in_failed', { reason: error.code });
          // Never a loop of fresh codes nobody can use: a slow retry, or (on_request) none until asked.
          if (onRequest) return void this.d.machine.go('error', { error });
          await this.steps.wait('error', { error }, this.d.timings.errorRetryMs, signal);
          continue;
        }
      }
    }
  }

  private async pursue(kind: Pursuit, signal: AbortSignal, first?: (kind: Attempt['kind']) => void): Promise<void> {
    const backoff = this.steps.backoff();
    while (!signal.aborted) {
      const result = await this.d.auth.silent(kind === 'refresh');
      first?.(result.kind);
      first = undefined;
      for (const join of this.joiners.splice(0)) join(result.kind);
      if (signal.aborted || result.kind === 'cancelled') return;
      switch (result.kind) {
        case 'ok':
          return this.steps.signedIn(result.tokens, kind === 'refresh' ? 'refresh_succeeded' : 'sign_in_succeeded');
        case 'interaction_required':
        case 'expired':
        case 'declined': {
          const reason = result.kind === 'interaction_required' ? result.code : result.kind;
          if (kind === 'refresh') this.d.machine.record('refresh_failed', { reason });
          this.log.info({ reason }, 'cached sign-in is no longer valid; signing out');
          await this.steps.forget(reason);
          if (!signal.aborted) this.run((s) => this.offerSignIn(s));
          return;
        }
        case 'network': {
          if (kind === 'refresh') this.d.machine.record('refresh_failed', { reason: result.code });
          const delay = backoff.next(result.retryAfterMs);
          const snap = this.d.machine.snapshot;
          const until = this.untilRetryOrNow(signal);
          // CONTRACT §1: while the access token is valid the kiosk stays signed in and retries quietly.
          if (snap.state === 'signed_in' && (snap.tokenExpiresAt ?? 0) > this.d.clock.now() + delay) {
            this.d.machine.amend({ retryAt: this.d.clock.now() + delay, detail: 'Refresh failed; retrying' });
            await sleep(this.d.clock, delay, until);
          } else {
            const detail = result.code === KEYS_UNREACHABLE ? VERIFYING : 'Waiting for network';
            await this.steps.wait('offline', { detail, account: snap.account }, delay, until);
          }
          continue;
        }
        case 'fatal':
          if (kind === 'refresh') this.d.machine.record('refresh_failed', { reason: result.fault.code });
          // The account stays named in the state: an operator sees whose sign-in was blocked, and may sign it out.
          await this.steps.wait('error', { error: result.fault, account: this.d.machine.snapshot.account }, this.d.timings.errorRetryMs, this.untilRetryOrNow(signal));
          continue;
      }
    }
  }

  /** A signal for a retry's wait: aborted when the task is, or when `refresh()` asks for an attempt now. */
  private untilRetryOrNow(signal: AbortSignal): AbortSignal {
    const now = new AbortController();
    this.retryNow = () => now.abort();
    return AbortSignal.any([signal, now.signal]);
  }

}
