import { EventEmitter } from 'node:events';
import { InvariantError } from './errors.js';
import type { Clock } from './clock.js';

export const STATES = [
  'starting', 'restoring', 'awaiting_sign_in', 'signed_in', 'offline', 'error', 'stopped',
] as const;
export type AgentState = (typeof STATES)[number];

/**
 * CONTRACT §1: where each state may go next; `stopped` is reachable from anywhere. Beyond the table,
 * a fault no retry fixes may surface as `error` straight from `starting` or `offline`,
 * and a slow retry out of `error` that finds no network shows `offline`.
 */
const NEXT: Record<AgentState, readonly AgentState[]> = {
  starting: ['restoring', 'awaiting_sign_in', 'offline', 'error'],
  restoring: ['signed_in', 'awaiting_sign_in', 'offline', 'error'],
  awaiting_sign_in: ['signed_in', 'awaiting_sign_in', 'offline', 'error'],
  signed_in: ['signed_in', 'awaiting_sign_in', 'offline', 'error'],
  offline: ['awaiting_sign_in', 'signed_in', 'offline', 'error'],
  error: ['awaiting_sign_in', 'signed_in', 'offline', 'error'],
  stopped: [],
};

export interface Account {
  readonly username: string;
  readonly name?: string;
}

export interface ProviderFault {
  /** The provider's error (`invalid_client`, `AADSTS7000218`, …) or the agent's own code. */
  readonly code: string;
  /** One line: what went wrong and how to fix it. */
  readonly message: string;
}

/** Everything a display or the MQTT publisher needs to know about now. Times are epoch milliseconds. */
export interface Snapshot {
  readonly state: AgentState;
  readonly since: number;
  readonly detail?: string;
  readonly userCode?: string;
  readonly verificationUri?: string;
  /** The URI with the code embedded, when the provider returns one; the QR encodes it. */
  readonly verificationUriComplete?: string;
  readonly expiresAt?: number;
  readonly account?: Account;
  readonly tokenExpiresAt?: number;
  readonly nextRefreshAt?: number;
  readonly retryAt?: number;
  readonly error?: ProviderFault;
}

export type SnapshotDetail = Omit<Snapshot, 'state' | 'since'>;

export type AgentEventName =
  | 'sign_in_succeeded' | 'sign_in_failed' | 'code_issued' | 'code_expired'
  | 'refresh_succeeded' | 'refresh_failed' | 'signed_out'
  /** A kiosk app was given an access token by the local token endpoint (CONTRACT §8). */
  | 'token_issued';

export interface AgentEvent {
  readonly event: AgentEventName;
  readonly at: number;
  readonly [key: string]: unknown;
}

/** Verified, allow-listed ID-token claims; `undefined` when there are none to show. */
export type Claims = Readonly<Record<string, unknown>>;

export type MachineEvents = {
  state: [Snapshot];
  event: [AgentEvent];
  claims: [Claims | undefined];
  /** A listener threw; the machine carries on. */
  listenerError: [unknown];
};

/**
 * The one owner of the agent's lifecycle. Auth and the scheduler drive it; displays and MQTT
 * listen. A listener that throws is reported on `listenerError` and cannot break a transition.
 */
export class Machine extends EventEmitter<MachineEvents> {
  private snap: Snapshot;
  private currentClaims: Claims | undefined;

  constructor(private readonly clock: Clock) {
    super({ captureRejections: false });
    this.snap = Object.freeze({ state: 'starting', since: clock.now() });
  }

  get snapshot(): Snapshot {
    return this.snap;
  }

  get claims(): Claims | undefined {
    return this.currentClaims;
  }

  go(to: AgentState, detail: SnapshotDetail = {}): Snapshot {
    const from = this.snap.state;
    if (from === 'stopped') return this.snap;
    if (to !== 'stopped' && !NEXT[from].includes(to)) throw new InvariantError(`state ${from} -> ${to} is not allowed`);
    this.snap = Object.freeze({ ...detail, state: to, since: this.clock.now() });
    this.deliver('state', this.snap);
    return this.snap;
  }

  /** Amends the current state's details without a transition (for example the next refresh time). */
  amend(detail: SnapshotDetail): Snapshot {
    if (this.snap.state === 'stopped') return this.snap;
    this.snap = Object.freeze({ ...this.snap, ...detail });
    this.deliver('state', this.snap);
    return this.snap;
  }

  setClaims(claims: Claims | undefined): void {
    this.currentClaims = claims === undefined ? undefined : Object.freeze({ ...claims });
    this.deliver('claims', this.currentClaims);
  }

  record(event: AgentEventName, fields: Record<string, unknown> = {}): void {
    this.deliver('event', Object.freeze({ ...fields, event, at: this.clock.now() }));
  }

  /** Calls each listener on its own, so one that throws cannot stop the others or the caller. */
  private deliver<K extends 'state' | 'event' | 'claims'>(name: K, ...args: MachineEvents[K]): void {
    for (const listener of this.listeners(name) as Array<(...a: MachineEvents[K]) => unknown>) {
      try {
        const r = listener(...args);
        if (r instanceof Promise) r.catch((e: unknown) => this.emit('listenerError', e));
      } catch (e) {
        this.emit('listenerError', e);
      }
    }
  }
}
