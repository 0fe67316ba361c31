import { isObject, jsonObject } from '../json.js';
import { OIDC_SCOPES } from '../resources.js';
import { OIDC_DEFAULT_SCOPES } from './early-provider.js';
import type { Account } from '../state.js';

/**
 * A reboot's sign-in read from MSAL's serialized cache without loading MSAL (a fifth of a boot's
 * JavaScript): the answer MSAL's `acquireTokenSilent` would give from its cache, found by MSAL's own
 * rules (msal-common's `SilentFlowClient.acquireCachedToken` and `CacheManager.getAccessToken`). Only
 * the plain case is read here: one account, one ID token, one access token for the scopes, valid
 * past MSAL's renewal offset, with no field these rules do not know. Anything else is left to MSAL.
 */
export interface SavedSignIn {
  /** The account's ID token: verified before anything of it is shown. */
  readonly idToken: string;
  /** Epoch ms the cached access token expires at; undefined when MSAL would not answer from its cache. */
  readonly accessTokenExpiresAt?: number;
}

/** MSAL refreshes an access token this close to its expiry (`tokenRenewalOffsetSeconds`). */
const RENEWAL_OFFSET_S = 300;
/** An access token entry's fields, as MSAL Node 7 writes a Bearer token; any other makes it MSAL's to judge. */
const ACCESS_TOKEN_FIELDS = new Set([
  'home_account_id', 'environment', 'credential_type', 'client_id', 'secret', 'realm', 'target', 'cached_at', 'expires_on', 'extended_expires_on', 'token_type',
]);

type Entry = Record<string, unknown>;

export function readSavedSignIn(plaintext: string, o: { clientId: string; scopes: readonly string[]; now: number }): SavedSignIn | undefined {
  const cache = jsonObject(plaintext);
  if (cache === undefined) return undefined;
  const accounts = entries(cache.Account);
  const account = accounts.length === 1 ? accounts[0] : undefined;
  if (account === undefined || typeof account.home_account_id !== 'string' || typeof account.realm !== 'string') return undefined;
  const mine = (e: Entry): boolean => e.home_account_id === account.home_account_id && e.client_id === o.clientId;
  // The ID token the agent names a cached account by (auth.ts): the account's, for this client.
  const idTokens = entries(cache.IdToken).filter((e) => mine(e) && e.credential_type === 'IdToken');
  const idToken = idTokens.length === 1 ? idTokens[0]?.secret : undefined;
  if (typeof idToken !== 'string' || idTokens[0]?.realm !== account.realm || idTokens[0]?.environment !== account.environment) return undefined;
  const wanted = searchScopes(o.scopes);
  // `accessTokenKeyMatchesFilter` reads the entry's key too: the client, account, realm and every scope in it.
  const keyNames = (key: string): boolean =>
    [o.clientId, account.home_account_id, account.realm, ...wanted].every((part) => key.toLowerCase().includes(String(part).toLowerCase()));
  const accessTokens = entries(cache.AccessToken, keyNames).filter(
    (e) => mine(e) && e.environment === account.environment && lower(e.realm) === lower(account.realm) && e.credential_type === 'AccessToken' && lower(e.token_type) === 'bearer' && covers(e.target, wanted),
  );
  const [at] = accessTokens;
  const nowS = Math.round(o.now / 1000);
  const usable = accessTokens.length === 1 && at !== undefined && Object.keys(at).every((k) => ACCESS_TOKEN_FIELDS.has(k)) && Number(at.cached_at) <= nowS && nowS + RENEWAL_OFFSET_S <= Number(at.expires_on);
  return { idToken, accessTokenExpiresAt: usable ? Number(at.expires_on) * 1000 : undefined };
}

/** The account as MSAL reports it with its ID token's claims (`updateAccountTenantProfileData`); call only on a verified token. */
export function accountOf(verifiedIdToken: string): Account {
  const claims = JSON.parse(Buffer.from(verifiedIdToken.split('.')[1] ?? '', 'base64url').toString('utf8')) as Entry;
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const username = text(claims.preferred_username) ?? text(claims.upn) ?? '';
  const name = text(claims.name);
  return name ? { username, name } : { username };
}

/** A section's entries (those whose key `keyed` accepts); a section that is not an object has none. */
function entries(section: unknown, keyed: (key: string) => boolean = () => true): Entry[] {
  return isObject(section) ? Object.entries(section).flatMap(([key, e]) => (isObject(e) && keyed(key) ? [e] : [])) : [];
}

const lower = (v: unknown): string | undefined => (typeof v === 'string' ? v.toLowerCase() : undefined);

/**
 * The scopes an `acquireTokenSilent` for `scopes` looks up: MSAL Node adds the OIDC defaults, then
 * `ScopeSet.createSearchScopes` removes the OIDC scopes (which it leaves out of a cache lookup), or only
 * offline_access when they are all.
 */
function searchScopes(scopes: readonly string[]): Set<string> {
  const set = new Set([...scopes, ...OIDC_DEFAULT_SCOPES].map((s) => s.trim()).filter(Boolean));
  const lowered = new Set([...set].map((s) => s.toLowerCase()));
  const onlyOidc = set.size === [...OIDC_SCOPES].filter((s) => lowered.has(s)).length;
  for (const s of onlyOidc ? ['offline_access'] : OIDC_SCOPES) set.delete(s);
  return set;
}

/** `ScopeSet.containsScopeSet`: the entry's scopes hold every one looked up, case aside. */
function covers(target: unknown, wanted: ReadonlySet<string>): boolean {
  if (typeof target !== 'string' || wanted.size === 0) return false;
  const held = new Set(target.split(' ').map((s) => s.trim()).filter(Boolean));
  const lowered = new Set([...held].map((s) => s.toLowerCase()));
  return held.size >= wanted.size && [...wanted].every((s) => lowered.has(s.toLowerCase()));
}
