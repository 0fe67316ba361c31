import { Backoff } from './backoff.js';
import { sleep } from './clock.js';
import type { Clock } from './clock.js';
import type { Auth, DeviceCode, Tokens } from './auth/auth.js';
import type { RefreshPlan } from './schedule.js';
import type { Machine, SnapshotDetail } from './state.js';

export interface Timings {
  /** First delay after a network failure; doubles up to `retryMaxMs`, with jitter. */
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** How often a fault no retry fixes soon (`error`) is tried again. */
  readonly errorRetryMs: number;
  /** How long "declined" stays on screen before a fresh code. */
  readonly declinePauseMs: number;
}

export const DEFAULT_TIMINGS: Timings = { retryInitialMs: 1_000, retryMaxMs: 300_000, errorRetryMs: 300_000, declinePauseMs: 5_000 };

/** Approved, or restored, but the ID token cannot be checked yet: no name is shown until it is. */
export const VERIFYING = "Verifying sign-in; waiting for the provider's keys";

/** What the kiosk says while nobody is signed in and no code was asked for (`KIOSK_SIGN_IN=on_request`). */
export const NOT_SIGNED_IN = 'Not signed in; a code is shown when sign-in is requested';

/**
 * The lifecycle's steps as the machine shows them: a code, a sign-in, a sign-out, a wait with its
 * retry time. `Lifecycle` (src/lifecycle.ts) decides which comes next; these only carry it out.
 */
export class SignInSteps {
  constructor(
    private readonly d: {
      readonly machine: Machine;
      readonly auth: Pick<Auth, 'signOut'>;
      readonly schedule: RefreshPlan;
      readonly clock: Clock;
      readonly timings: Timings;
      readonly random?: () => number;
    },
  ) {}

  /** Removes the cached account; the `signed_out` event says why (`operator`, Entra's code, `invalid_grant`, …). */
  async forget(reason: string): Promise<void> {
    await this.d.auth.signOut();
    this.d.machine.setClaims(undefined);
    this.d.machine.record('signed_out', { reason });
  }

  showCode(code: DeviceCode, signal: AbortSignal): void {
    if (signal.aborted) return;
    this.d.machine.go('awaiting_sign_in', {
      userCode: code.userCode,
      verificationUri: code.verificationUri,
      verificationUriComplete: code.verificationUriComplete,
      expiresAt: code.expiresAt,
    });
    this.d.machine.record('code_issued', { user_code: code.userCode, expires_at: code.expiresAt });
  }

  signedIn(tokens: Tokens, event: 'sign_in_succeeded' | 'refresh_succeeded'): void {
    this.d.machine.setClaims(tokens.claims);
    const nextRefreshAt = this.d.schedule.plan(tokens.expiresAt);
    this.d.machine.go('signed_in', { account: tokens.account, tokenExpiresAt: tokens.expiresAt, nextRefreshAt });
    this.d.machine.record(event, { username: tokens.account.username });
  }

  /** Shows a waiting state with its retry time, then sleeps until then (or until cancelled). */
  async wait(state: 'offline' | 'error' | 'awaiting_sign_in', detail: SnapshotDetail, ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    this.d.machine.go(state, { ...detail, retryAt: this.d.clock.now() + ms });
    await sleep(this.d.clock, ms, signal);
  }

  backoff(): Backoff {
    return new Backoff({ initialMs: this.d.timings.retryInitialMs, maxMs: this.d.timings.retryMaxMs, random: this.d.random });
  }
}
