import { createHash, randomBytes } from 'node:crypto';
import type { IdTokenFault } from './faults.js';
import type { SigningKeys } from './keys.js';
import type { User } from './types.js';

/** Microsoft Graph's application id: the audience Entra gives an access token when only OIDC scopes were asked. */
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
/** The audience of an ID token minted with the `wrong_audience` fault. */
export const WRONG_AUDIENCE = 'f0f0f0f0-0000-4000-8000-0000000000aa';
export const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);

export const ID_TOKEN_LIFETIME = 3600;
export const REFRESH_TOKEN_LIFETIME = 90 * 24 * 3600;

const base64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** A long opaque random secret (refresh tokens, device codes). */
export const opaqueSecret = (bytes = 256): string => randomBytes(bytes).toString('base64url');

/** `client_info`: base64url JSON `{"uid": oid, "utid": tid}`, from which MSAL builds `homeAccountId`. */
export const clientInfo = (oid: string, tenantId: string): string => base64url(JSON.stringify({ uid: oid, utid: tenantId }));

/** Entra's `sub` is pairwise: stable per user and application, different across applications. */
export const pairwiseSub = (oid: string, clientId: string): string =>
  base64url(createHash('sha256').update(`${oid}:${clientId}`).digest()).slice(0, 43);

/** Normalized scope string: split on spaces, duplicates removed, order kept. */
export const normalizeScope = (scope: string): string => [...new Set(scope.split(/\s+/).filter(Boolean))].join(' ');

export interface MintInput {
  readonly keys: SigningKeys;
  readonly issuer: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly user: User;
  readonly scope: string;
  readonly now: number;
}

export async function mintIdToken(input: MintInput, fault: IdTokenFault | null): Promise<string> {
  const { keys, issuer, tenantId, clientId, user } = input;
  const iat = Math.floor(input.now / 1000) - (fault === 'expired' ? 2 * ID_TOKEN_LIFETIME : 0);
  const payload = {
    aud: fault === 'wrong_audience' ? WRONG_AUDIENCE : clientId,
    iss: issuer,
    iat,
    nbf: iat,
    exp: iat + ID_TOKEN_LIFETIME,
    name: user.name,
    oid: user.oid,
    preferred_username: user.username,
    email: user.email,
    sub: pairwiseSub(user.oid, clientId),
    tid: tenantId,
    uti: opaqueSecret(16),
    ver: '2.0',
  };
  return fault === 'forged' ? keys.forge(payload) : keys.sign(payload);
}

/** The resource a scope names (`api://app/kiosk.read` → `api://app`); a bare name (`User.Read`) is Microsoft Graph's. */
const resourceOf = (scope: string): string => {
  const slash = scope.lastIndexOf('/');
  return slash > scope.indexOf('://') + 2 && scope.includes('://') ? scope.slice(0, slash) : GRAPH_APP_ID;
};

/** The resources a scope string asks for, OIDC scopes aside: Entra issues an access token for one at a time. */
export const scopeResources = (scope: string): string[] => [...new Set(scope.split(' ').filter((s) => s !== '' && !OIDC_SCOPES.has(s)).map(resourceOf))];

/** The audience of an access token: the resource its scopes ask for (Microsoft Graph when only OIDC scopes were asked). */
export function accessTokenAudience(scope: string): string {
  return scopeResources(scope)[0] ?? GRAPH_APP_ID;
}

export async function mintAccessToken(input: MintInput, expiresIn: number): Promise<string> {
  const { keys, issuer, tenantId, clientId, user, scope } = input;
  const iat = Math.floor(input.now / 1000);
  const scp = scope.split(' ').filter((s) => s !== '' && !OIDC_SCOPES.has(s));
  return keys.sign({
    aud: accessTokenAudience(scope),
    iss: issuer,
    iat,
    nbf: iat,
    exp: iat + expiresIn,
    azp: clientId,
    azpacr: '0',
    name: user.name,
    oid: user.oid,
    preferred_username: user.username,
    scp: (scp.length > 0 ? scp : ['openid', 'profile', 'email']).join(' '),
    sub: pairwiseSub(user.oid, clientId),
    tid: tenantId,
    uti: opaqueSecret(16),
    ver: '2.0',
  });
}
