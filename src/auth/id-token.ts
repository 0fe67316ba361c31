import type * as JoseModule from 'jose';
import type { JSONWebKeySet, JWTPayload } from 'jose';
import type { Claims } from '../state.js';

export interface IdTokenDeps {
  clientId: string;
  /** Claims allowed to leave the auth module (KIOSK_CLAIMS). */
  allowed: readonly string[];
  /** The issuer from the provider's discovery document. */
  issuer(): Promise<string>;
  /** The provider's published keys; `fresh` asks past any saved copy (a key rotation). */
  keys(fresh: boolean): Promise<JSONWebKeySet>;
  /** The time to judge the token's `exp`, `nbf` and `iat` by (for a fresh token, the provider's). */
  now(): number;
}

export class IdTokenInvalid extends Error {
  constructor(readonly reason: string) {
    super(`ID token rejected: ${reason}`);
    this.name = 'IdTokenInvalid';
  }
}

/** The reasons a token is rejected for its times alone: the kiosk's clock may be the one at fault. */
export const EXPIRED = 'ERR_JWT_EXPIRED';
export const NOT_YET_VALID = 'ERR_JWT_NOT_YET_VALID';

/** Clock skew tolerated between the kiosk and the provider. */
const CLOCK_TOLERANCE_S = 120;

/**
 * MSAL never checks ID-token signatures (MSAL-NOTES.md). Before any claim is used, the token's
 * RS256 signature is checked against the provider's JWKS, and its issuer, audience and expiry too;
 * then only the allow-listed claims are returned.
 */
export async function verifyIdToken(token: string, d: IdTokenDeps): Promise<Claims> {
  // Loaded on first use, not at boot: the first code on screen does not wait for it.
  const jose = await import('jose');
  const issuer = await d.issuer();
  const now = d.now();
  // Keys that cannot be fetched (no network) say nothing about the token: that error is not an IdTokenInvalid.
  const keys = await d.keys(false);
  let payload: JWTPayload;
  try {
    payload = await verifyWith(jose, token, issuer, d, keys, now);
  } catch (e) {
    if (!(e instanceof jose.errors.JWKSNoMatchingKey)) throw reject(jose, e);
    const rotated = await d.keys(true);
    try {
      payload = await verifyWith(jose, token, issuer, d, rotated, now);
    } catch (again) {
      throw reject(jose, again);
    }
  }
  return Object.fromEntries(d.allowed.filter((k) => payload[k] !== undefined).map((k) => [k, payload[k]]));
}

type Jose = typeof JoseModule;

async function verifyWith(jose: Jose, token: string, issuer: string, d: IdTokenDeps, jwks: JSONWebKeySet, now: number): Promise<JWTPayload> {
  const { payload } = await jose.jwtVerify(token, jose.createLocalJWKSet(jwks), {
    algorithms: ['RS256'],
    audience: d.clientId,
    clockTolerance: CLOCK_TOLERANCE_S,
    currentDate: new Date(now),
    requiredClaims: ['exp', 'iat'],
  });
  // Entra's multi-tenant documents carry a `{tenantid}` template in the issuer.
  const expected = issuer.replace('{tenantid}', String(payload.tid ?? ''));
  if (payload.iss !== expected) throw new IdTokenInvalid(`issuer ${String(payload.iss)} is not ${expected}`);
  return payload;
}

function reject(jose: Jose, e: unknown): IdTokenInvalid {
  if (e instanceof IdTokenInvalid) return e;
  // A token from the future says more about the kiosk's clock than about the token.
  if (e instanceof jose.errors.JWTClaimValidationFailed && (e.claim === 'nbf' || e.claim === 'iat')) return new IdTokenInvalid(NOT_YET_VALID);
  if (e instanceof jose.errors.JOSEError) return new IdTokenInvalid(e.code);
  return new IdTokenInvalid(e instanceof Error ? e.message : String(e));
}
