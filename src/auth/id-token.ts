import type { JSONWebKeySet, JWTPayload } from 'jose';
import type * as JoseVerify from './jose-verify.js';
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
  /** The tenant (GUID) the token's `tid` must name, when the authority or discovery names one. */
  tenant?: string;
  /**
   * Checks who the token names (signature, issuer, audience, tenant) but not when: for a cached
   * token that has aged, or a kiosk clock that is off, when no fresh one can be had.
   */
  ignoreTimes?: boolean;
  /** Only keys already saved: never a network call (naming the account being restored at boot). */
  savedKeysOnly?: boolean;
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
 * MSAL never checks ID-token signatures (docs/MSAL-NODE.md). Before any claim is used, the token's
 * RS256 signature is checked against the provider's JWKS, and its issuer, audience and expiry too;
 * then only the allow-listed claims are returned.
 */
export async function verifyIdToken(token: string, d: IdTokenDeps): Promise<Claims> {
  // Loaded on first use, not at boot: the first code on screen does not wait for it.
  const jose = await import('./jose-verify.js');
  const issuer = await d.issuer();
  const now = d.ignoreTimes ? timeWithin(jose, token) : d.now();
  // Keys that cannot be fetched (no network) say nothing about the token: that error is not an IdTokenInvalid.
  const keys = await d.keys(false);
  let payload: JWTPayload;
  try {
    payload = await verifyWith(jose, token, issuer, d, keys, now);
  } catch (e) {
    if (!(e instanceof jose.errors.JWKSNoMatchingKey) || d.savedKeysOnly) throw reject(jose, e);
    const rotated = await d.keys(true);
    try {
      payload = await verifyWith(jose, token, issuer, d, rotated, now);
    } catch (again) {
      throw reject(jose, again);
    }
  }
  return Object.fromEntries(d.allowed.filter((k) => payload[k] !== undefined).map((k) => [k, payload[k]]));
}

type Jose = typeof JoseVerify;

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
  if (d.tenant !== undefined && String(payload.tid ?? '').toLowerCase() !== d.tenant.toLowerCase())
    throw new IdTokenInvalid(`tenant ${String(payload.tid)} is not ${d.tenant}`);
  return payload;
}

/** A time inside the token's own validity window (read unverified: only its signature makes it count). */
function timeWithin(jose: Jose, token: string): number {
  try {
    const { iat, nbf, exp } = jose.decodeJwt(token);
    const from = Math.max(iat ?? 0, nbf ?? 0);
    return (exp !== undefined && exp > from ? Math.min(from + 1, exp - 1) : from) * 1000;
  } catch {
    throw new IdTokenInvalid('ERR_JWT_INVALID');
  }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The tenant an ID token must come from: the authority's first path segment when it is a tenant id,
 * else the tenant id in the discovery document's issuer (External ID's `contoso.onmicrosoft.com`
 * names a domain, its issuer the GUID); none for multi-tenant authorities such as `common`.
 */
export function expectedTenant(authority: string, issuer: string | undefined): string | undefined {
  const first = new URL(authority).pathname.split('/').find(Boolean);
  if (first !== undefined && GUID.test(first)) return first;
  if (issuer === undefined || issuer.includes('{tenantid}') || !URL.canParse(issuer)) return undefined;
  const url = new URL(issuer);
  return [...url.pathname.split('/'), url.hostname.split('.')[0] ?? ''].find((part) => GUID.test(part));
}

function reject(jose: Jose, e: unknown): IdTokenInvalid {
  if (e instanceof IdTokenInvalid) return e;
  // A token from the future says more about the kiosk's clock than about the token.
  if (e instanceof jose.errors.JWTClaimValidationFailed && (e.claim === 'nbf' || e.claim === 'iat')) return new IdTokenInvalid(NOT_YET_VALID);
  if (e instanceof jose.errors.JOSEError) return new IdTokenInvalid(e.code);
  return new IdTokenInvalid(e instanceof Error ? e.message : String(e));
}
