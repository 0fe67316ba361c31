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
  now(): number;
}

export class IdTokenInvalid extends Error {
  constructor(readonly reason: string) {
    super(`ID token rejected: ${reason}`);
    this.name = 'IdTokenInvalid';
  }
}

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
  let payload: JWTPayload;
  try {
    payload = await verifyWith(jose, token, issuer, d, await d.keys(false));
  } catch (e) {
    if (!(e instanceof jose.errors.JWKSNoMatchingKey)) throw reject(jose, e);
    try {
      payload = await verifyWith(jose, token, issuer, d, await d.keys(true));
    } catch (again) {
      throw reject(jose, again);
    }
  }
  return Object.fromEntries(d.allowed.filter((k) => payload[k] !== undefined).map((k) => [k, payload[k]]));
}

type Jose = typeof JoseModule;

async function verifyWith(jose: Jose, token: string, issuer: string, d: IdTokenDeps, jwks: JSONWebKeySet): Promise<JWTPayload> {
  const { payload } = await jose.jwtVerify(token, jose.createLocalJWKSet(jwks), {
    algorithms: ['RS256'],
    audience: d.clientId,
    clockTolerance: CLOCK_TOLERANCE_S,
    currentDate: new Date(d.now()),
    requiredClaims: ['exp', 'iat'],
  });
  // Entra's multi-tenant documents carry a `{tenantid}` template in the issuer.
  const expected = issuer.replace('{tenantid}', String(payload.tid ?? ''));
  if (payload.iss !== expected) throw new IdTokenInvalid(`issuer ${String(payload.iss)} is not ${expected}`);
  return payload;
}

function reject(jose: Jose, e: unknown): IdTokenInvalid {
  if (e instanceof IdTokenInvalid) return e;
  if (e instanceof jose.errors.JOSEError) return new IdTokenInvalid(e.code);
  return new IdTokenInvalid(e instanceof Error ? e.message : String(e));
}
