import type { Account, Claims } from '../state.js';
import type { Outcome } from './provider-errors.js';

/** What the sign-in module answers: verified tokens' account and claims, a code to show, or why not. */

/** Tokens whose ID token was verified: the account and claims come from it. */
export interface Tokens {
  readonly account: Account;
  /** Verified, allow-listed claims. */
  readonly claims: Claims;
  readonly expiresAt: number;
}

export interface DeviceCode {
  readonly userCode: string;
  readonly verificationUri: string;
  readonly verificationUriComplete?: string;
  readonly expiresAt: number;
  readonly message: string;
}

export type Attempt = { kind: 'ok'; tokens: Tokens } | Outcome;

/** An access token for the local token endpoint (CONTRACT §8), or why there is none. */
export type AccessTokenAttempt =
  | { kind: 'ok'; accessToken: string; expiresAt: number }
  | { kind: 'network'; code: string; retryAfterMs?: number }
  | { kind: 'refused'; code: string; message: string };

/** Why a kiosk app gets no token: a fault to retry (network), or one to report. */
export function refusal(o: Outcome): AccessTokenAttempt {
  switch (o.kind) {
    case 'network':
      return { kind: 'network', code: o.code, retryAfterMs: o.retryAfterMs };
    case 'interaction_required':
      return { kind: 'refused', code: o.code, message: 'the signed-in account needs to sign in again, or consent to this resource, before a token for it can be had' };
    case 'fatal':
      return { kind: 'refused', code: o.fault.code, message: o.fault.message };
    default:
      return { kind: 'refused', code: o.kind, message: 'no token could be had for this resource' };
  }
}
