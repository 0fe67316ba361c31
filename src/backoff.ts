export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly random?: () => number;
}

/**
 * Exponential backoff with jitter: each delay is drawn from [half, full] of a doubling step,
 * so a fleet that lost its network at the same instant does not come back in lockstep.
 */
export class Backoff {
  private attempt = 0;

  constructor(private readonly o: BackoffOptions) {}

  next(atLeastMs = 0): number {
    const step = Math.min(this.o.maxMs, this.o.initialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    const jittered = step / 2 + (step / 2) * (this.o.random ?? Math.random)();
    return Math.round(Math.max(jittered, Math.min(atLeastMs, this.o.maxMs * 12)));
  }

  reset(): void {
    this.attempt = 0;
  }
}
