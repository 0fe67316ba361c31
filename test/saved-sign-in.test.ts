import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PublicClientApplication } from '@azure/msal-node';
import type { INetworkModule } from '@azure/msal-node';
import { toAccount } from '../src/auth/restore.js';
import { accountOf, readSavedSignIn } from '../src/auth/saved-sign-in.js';
import type { Account } from '../src/state.js';

/**
 * A reboot's "Signed in" is read from MSAL's cache without MSAL (src/auth/saved-sign-in.ts). Each cache
 * below is also handed to the real MSAL Node, with no network (every request fails): wherever the
 * reading says MSAL would answer from its cache, MSAL does, with the same access token expiry and
 * account. Where it declines, MSAL is left to decide (it may refresh, or answer itself).
 */

const CLIENT = 'kiosk-client';
const TENANT = '2509e314-084a-483b-94b7-babe640a0f5a';
const HOST = 'login.example.test';
const HOME = `9b7185ae-7b4d-4913-bd15-2fc392a6b23a.${TENANT}`;
const NOW_S = Math.round(Date.now() / 1000);

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
const idToken = (claims: Record<string, unknown>): string =>
  `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ aud: CLIENT, iss: `https://${HOST}/${TENANT}/v2.0`, tid: TENANT, oid: '9b7185ae-7b4d-4913-bd15-2fc392a6b23a', iat: NOW_S - 60, exp: NOW_S + 3600, ...claims })}.c2ln`;

interface Shape {
  scopes?: string[];
  target?: string;
  expiresIn?: number;
  cachedAt?: number;
  at?: Record<string, unknown>;
  /** A second access token for the same account and scopes. */
  twin?: boolean;
  secondAccount?: boolean;
  claims?: Record<string, unknown>;
}

function cache(s: Shape = {}): string {
  const target = s.target ?? 'openid profile offline_access';
  const account = (home: string): [string, unknown] => [
    `${home}-${HOST}-${TENANT}`.toLowerCase(),
    { home_account_id: home, environment: HOST, realm: TENANT, local_account_id: home.split('.')[0], username: 'cached@example.test', authority_type: 'MSSTS', name: 'Cached Name' },
  ];
  const at = (t: string): [string, unknown] => [
    `${HOME}-${HOST}-accesstoken-${CLIENT}-${TENANT}-${t}-`.toLowerCase(),
    {
      home_account_id: HOME, environment: HOST, credential_type: 'AccessToken', client_id: CLIENT, secret: 'at-secret', realm: TENANT, target: t,
      cached_at: String(s.cachedAt ?? NOW_S - 60), expires_on: String(NOW_S + (s.expiresIn ?? 3600)), extended_expires_on: String(NOW_S + 7200), token_type: 'Bearer', ...s.at,
    },
  ];
  return JSON.stringify({
    Account: Object.fromEntries([account(HOME), ...(s.secondAccount ? [account(`other.${TENANT}`)] : [])]),
    IdToken: {
      [`${HOME}-${HOST}-idtoken-${CLIENT}-${TENANT}--`]: {
        home_account_id: HOME, environment: HOST, credential_type: 'IdToken', client_id: CLIENT, realm: TENANT,
        secret: idToken(s.claims ?? { preferred_username: 'alice@example.test', name: 'Alice Example' }),
      },
    },
    AccessToken: Object.fromEntries([at(target), ...(s.twin ? [at(`${target} user.read`)] : [])]),
    RefreshToken: { [`${HOME}-${HOST}-refreshtoken-${CLIENT}---`]: { home_account_id: HOME, environment: HOST, credential_type: 'RefreshToken', client_id: CLIENT, secret: 'rt-secret' } },
    AppMetadata: {},
  });
}

const offline: INetworkModule = {
  sendGetRequestAsync: () => Promise.reject(new Error('no network in this test')),
  sendPostRequestAsync: () => Promise.reject(new Error('no network in this test')),
};

interface MsalView {
  /** The first account `getAllAccounts` lists (the one the agent restores), as the agent shows it. */
  listed?: Account;
  /** `acquireTokenSilent` from the cache: its expiry and account, or `refresh` when it went to the network. */
  answer: { expiresAt: number; account: Account } | 'refresh' | 'no_account';
}

/** What the real MSAL makes of this cache, asked for `scopes`. */
async function msalView(text: string, scopes: string[]): Promise<MsalView> {
  const authority = `https://${HOST}/${TENANT}/`;
  const app = new PublicClientApplication({
    auth: {
      clientId: CLIENT, authority, knownAuthorities: [HOST],
      authorityMetadata: JSON.stringify({
        issuer: `https://${HOST}/${TENANT}/v2.0`, token_endpoint: `${authority}oauth2/v2.0/token`, authorization_endpoint: `${authority}oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${authority}oauth2/v2.0/devicecode`, end_session_endpoint: `${authority}oauth2/v2.0/logout`, jwks_uri: `${authority}discovery/v2.0/keys`,
      }),
      cloudDiscoveryMetadata: JSON.stringify({ tenant_discovery_endpoint: `${authority}v2.0/.well-known/openid-configuration`, 'api-version': '1.1', metadata: [{ preferred_network: HOST, preferred_cache: HOST, aliases: [HOST] }] }),
    },
    cache: { cachePlugin: { beforeCacheAccess: async (c) => c.tokenCache.deserialize(text), afterCacheAccess: async () => undefined } },
    system: { networkClient: offline },
  });
  const [account] = await app.getTokenCache().getAllAccounts();
  if (!account) return { answer: 'no_account' };
  try {
    const r = await app.acquireTokenSilent({ account, scopes });
    assert.equal(r.fromCache, true);
    return { listed: toAccount(account), answer: { expiresAt: r.expiresOn!.getTime(), account: toAccount(r.account!) } };
  } catch {
    return { listed: toAccount(account), answer: 'refresh' };
  }
}

const cases: [string, Shape, boolean][] = [
  ['a fresh access token for the sign-in scopes', {}, true],
  ['due for renewal: 299 s left', { expiresIn: 299 }, false],
  ['just past the renewal offset: 301 s left', { expiresIn: 301 }, true],
  ['expired', { expiresIn: -10 }, false],
  ['cached in the future (the clock was turned back)', { cachedAt: NOW_S + 600 }, false],
  ['the sign-in scopes held but offline_access (never looked up)', { target: 'openid profile' }, true],
  ['an API scope held alone (the OIDC scopes are not looked up)', { scopes: ['api://kiosk/read'], target: 'api://kiosk/read' }, true],
  ['an API scope held', { scopes: ['api://kiosk/read'], target: 'api://kiosk/read openid profile offline_access' }, true],
  ['an API scope held, in other case', { scopes: ['API://Kiosk/Read'], target: 'api://kiosk/read openid profile' }, true],
  ['an API scope not held', { scopes: ['api://kiosk/write'], target: 'api://kiosk/read openid profile offline_access' }, false],
  ['two tokens match (MSAL clears both and refreshes)', { twin: true }, false],
  ['two accounts', { secondAccount: true }, false],
  ['refresh_on passed (MSAL answers, then refreshes in the background)', { at: { refresh_on: String(NOW_S - 5) } }, false],
  ['no token type', { at: { token_type: undefined } }, false],
  ['a PoP token', { at: { token_type: 'pop' } }, false],
  ['a token bound to a key', { at: { key_id: 'k1' } }, false],
  ['another client', { at: { client_id: 'someone-else' } }, false],
  ['another realm', { at: { realm: '00000000-0000-0000-0000-000000000000' } }, false],
  ['no preferred_username: the upn names the account', { claims: { upn: 'upn@example.test', name: 'Upn Person' } }, true],
  ['no name', { claims: { preferred_username: 'alice@example.test' } }, true],
];

for (const [what, shape, fromCache] of cases) {
  test(`saved sign-in, ${what}: ${fromCache ? 'read as MSAL answers it' : 'left to MSAL'}`, async () => {
    const text = cache(shape);
    const scopes = shape.scopes ?? ['openid', 'profile', 'offline_access'];
    const saved = readSavedSignIn(text, { clientId: CLIENT, scopes, now: Date.now() });
    const msal = await msalView(text, scopes);
    if (saved !== undefined) assert.deepEqual(accountOf(saved.idToken), msal.listed, 'the account MSAL lists, named alike');
    if (!fromCache) {
      assert.equal(saved?.accessTokenExpiresAt, undefined, 'not read without MSAL');
      if (what.startsWith('due') || what === 'expired' || what.startsWith('cached in the future') || what.includes('not held') || what.startsWith('two tokens'))
        assert.equal(msal.answer, 'refresh', 'MSAL goes to the network too');
      return;
    }
    assert.ok(saved?.accessTokenExpiresAt !== undefined, 'read without MSAL');
    assert.notEqual(typeof msal.answer, 'string', `MSAL answers from its cache (${String(msal.answer)})`);
    const answer = msal.answer as Exclude<MsalView['answer'], string>;
    assert.equal(saved.accessTokenExpiresAt, answer.expiresAt, 'the same expiry');
    assert.deepEqual(accountOf(saved.idToken), answer.account, 'the same account');
  });
}

test('saved sign-in: a file that is not a cache, or has no account, reads as nothing', () => {
  for (const text of ['', 'not json', '[]', '{}', JSON.stringify({ Account: {} }), JSON.stringify({ Account: [] })])
    assert.equal(readSavedSignIn(text, { clientId: CLIENT, scopes: ['openid'], now: Date.now() }), undefined, text);
});
