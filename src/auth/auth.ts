import { join, dirname } from 'node:path';
import { LogLevel, PublicClientApplication } from '@azure/msal-node';
import type { AccountInfo, AuthenticationResult, DeviceCodeRequest } from '@azure/msal-node';
import type { JSONWebKeySet } from 'jose';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { scrub } from '../log.js';
import type { Account, Claims, ProviderFault } from '../state.js';
import { CacheStore } from './cache-store.js';
import { createCachePlugin } from './cache-plugin.js';
import { EXPIRED, IdTokenInvalid, NOT_YET_VALID, verifyIdToken } from './id-token.js';
import { MetadataStore } from './metadata-store.js';
import { ProviderNetworkClient } from './network-client.js';
import { classify, fault } from './provider-errors.js';
import type { Outcome } from './provider-errors.js';

export interface Tokens {
  readonly account: Account;
  /** Verified, allow-listed claims; undefined while the ID token could not be checked yet. */
  readonly claims: Claims | undefined;
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

export interface AuthDeps {
  config: Config;
  log: Logger;
  clock: Clock;
  /** Aborted on shutdown. */
  signal: AbortSignal;
}

/**
 * Everything that talks to the identity provider: MSAL with its cache, network client and
 * ID-token verification. Tokens never leave this module; only accounts, verified claims and
 * expiry times do.
 */
export class Auth {
  readonly cache: CacheStore;
  private readonly metadata: MetadataStore;
  private readonly net: ProviderNetworkClient;
  private readonly app: PublicClientApplication;
  private readonly log: Logger;

  constructor(private readonly d: AuthDeps) {
    const { config } = d;
    this.log = d.log.child({ module: 'auth' });
    this.cache = new CacheStore({ path: config.cachePath, key: config.cacheKey, log: this.log });
    this.metadata = new MetadataStore({ path: join(dirname(config.cachePath), 'provider-metadata.json'), log: this.log });
    this.net = new ProviderNetworkClient({ timeoutMs: config.httpTimeoutSeconds * 1000, log: this.log, clock: d.clock, metadata: this.metadata, signal: d.signal });
    const msalLog = this.log.child({ module: 'msal' });
    this.app = new PublicClientApplication({
      auth: { clientId: config.clientId, authority: config.authority, knownAuthorities: [...config.knownAuthorities] },
      cache: { cachePlugin: createCachePlugin(this.cache) },
      system: {
        networkClient: this.net,
        loggerOptions: {
          piiLoggingEnabled: false,
          logLevel: msalLog.isLevelEnabled('debug') ? LogLevel.Verbose : LogLevel.Warning,
          loggerCallback: (_level, message, containsPii) => {
            if (!containsPii) msalLog.debug(scrub(message));
          },
        },
      },
    });
  }

  async start(): Promise<void> {
    await this.metadata.load();
  }

  async cachedAccount(): Promise<Account | undefined> {
    // A cache locked under another key is read again each time: its file may have been put right since.
    if (this.cache.locked) await this.cache.load();
    const account = await this.msalAccount();
    return account && toAccount(account);
  }

  /** Tokens from the cache, or from the refresh token when `force` or when the access token is due. */
  async silent(force: boolean): Promise<Attempt> {
    const account = await this.msalAccount();
    if (!account) return { kind: 'interaction_required', code: 'no_account_found' };
    const request = { account, scopes: [...this.d.config.scopes], forceRefresh: force, extraQueryParameters: this.extraQuery() };
    try {
      const result = await this.app.acquireTokenSilent(request);
      return await this.accept(result, force);
    } catch (e) {
      return this.failed(e);
    }
  }

  /** One device code, from request to approval or to its end; `onCode` shows it. */
  async deviceCode(onCode: (code: DeviceCode) => void, signal: AbortSignal): Promise<Attempt> {
    let issued: string | undefined;
    const request: DeviceCodeRequest = {
      scopes: [...this.d.config.scopes],
      extraQueryParameters: this.extraQuery(),
      deviceCodeCallback: (r) => {
        issued = r.deviceCode;
        onCode({
          userCode: r.userCode,
          verificationUri: r.verificationUri,
          verificationUriComplete: this.net.verificationUriComplete(r.deviceCode),
          expiresAt: this.d.clock.now() + r.expiresIn * 1000,
          message: r.message,
        });
      },
    };
    // MSAL checks `cancel` on the object it was given, between polls.
    const cancel = (): void => void (request.cancel = true);
    signal.addEventListener('abort', cancel, { once: true });
    try {
      const result = await this.app.acquireTokenByDeviceCode(request);
      if (signal.aborted) return { kind: 'cancelled' };
      if (!result) return { kind: 'fatal', fault: fault('no_result', 'the provider returned no tokens') };
      return await this.accept(result, true);
    } catch (e) {
      return signal.aborted ? { kind: 'cancelled' } : this.failed(e);
    } finally {
      signal.removeEventListener('abort', cancel);
      if (issued !== undefined) this.net.forgetCode(issued);
    }
  }

  /** The `error` to show while the cache on disk is encrypted under another KIOSK_CACHE_KEY (kept, not read). */
  cacheFault(): ProviderFault | undefined {
    const lock = this.cache.locked;
    if (lock === undefined) return undefined;
    const what = lock === 'no_key' ? 'encrypted but KIOSK_CACHE_KEY is not set' : 'encrypted with another KIOSK_CACHE_KEY';
    return { code: 'cache_key_mismatch', message: `Token cache ${what}: restart with the key it was written with, or send restart_sign_in for a fresh sign-in` };
  }

  /** A deliberate fresh sign-in (operator `restart_sign_in`): its cache may replace a locked one. */
  replaceLockedCache(): void {
    this.cache.replaceLocked();
  }

  /** Removes every cached account (operator sign-out, or a token that failed verification). */
  async signOut(): Promise<void> {
    const cache = this.app.getTokenCache();
    for (const account of await cache.getAllAccounts()) await cache.removeAccount(account);
    await this.cache.flush();
  }

  async flush(): Promise<void> {
    await this.cache.flush();
  }

  private async accept(result: AuthenticationResult, fresh: boolean): Promise<Attempt> {
    if (!result.account) return { kind: 'fatal', fault: fault('no_account', 'the provider returned no account (no ID token or client_info)') };
    const tokens = { account: toAccount(result.account), expiresAt: result.expiresOn?.getTime() ?? this.d.clock.now() };
    try {
      return { kind: 'ok', tokens: { ...tokens, claims: await this.verify(result.idToken, fresh) } };
    } catch (e) {
      if (!(e instanceof IdTokenInvalid)) {
        const outcome = this.failed(e);
        // The provider's keys could not be fetched: the tokens stand, their claims wait for the next refresh.
        return outcome.kind === 'network' ? { kind: 'ok', tokens: { ...tokens, claims: undefined } } : outcome;
      }
      // A cached ID token may simply have aged, or the kiosk's clock be off (a Pi before NTP): fetch a
      // fresh one; without network, carry on unverified.
      if (!fresh && (e.reason === EXPIRED || e.reason === NOT_YET_VALID)) {
        const refreshed = await this.silent(true);
        return refreshed.kind === 'network' ? { kind: 'ok', tokens: { ...tokens, claims: undefined } } : refreshed;
      }
      this.log.warn({ reason: e.reason }, 'ID token failed verification; signing out');
      await this.signOut();
      return { kind: 'fatal', fault: fault('invalid_id_token', e.reason) };
    }
  }

  /** A fresh token is judged by the provider's clock (`clockSkewMs`), a cached one by the kiosk's. */
  private verify(idToken: string, fresh: boolean): Promise<Claims> {
    return verifyIdToken(idToken, {
      clientId: this.d.config.clientId,
      allowed: this.d.config.claims,
      now: () => this.d.clock.now() - (fresh ? this.net.clockSkewMs : 0),
      issuer: async () => this.discovery().issuer,
      keys: async (fresh) => this.jwks(fresh),
    });
  }

  private discovery(): { issuer: string; jwks_uri: string } {
    const doc = this.metadata.find((url) => url.startsWith(this.d.config.authority) && url.endsWith('/.well-known/openid-configuration')) as
      | { issuer?: unknown; jwks_uri?: unknown }
      | undefined;
    if (typeof doc?.issuer !== 'string' || typeof doc.jwks_uri !== 'string') throw new IdTokenInvalid('no discovery document to check it against');
    return { issuer: doc.issuer, jwks_uri: doc.jwks_uri };
  }

  private async jwks(fresh: boolean): Promise<JSONWebKeySet> {
    const { jwks_uri } = this.discovery();
    const saved = this.metadata.get(jwks_uri) as JSONWebKeySet | undefined;
    if (saved && !fresh) return saved;
    const response = await this.net.sendGetRequestAsync<JSONWebKeySet>(jwks_uri);
    if (response.status !== 200 || !Array.isArray(response.body.keys)) throw new IdTokenInvalid(`cannot read the provider's keys (HTTP ${response.status})`);
    return response.body;
  }

  private failed(e: unknown): Outcome {
    const outcome = classify(e, this.net.lastFailure);
    if (outcome.kind === 'fatal') this.log.warn({ code: outcome.fault.code }, 'sign-in fault');
    return outcome;
  }

  private async msalAccount(): Promise<AccountInfo | undefined> {
    try {
      const accounts = await this.app.getTokenCache().getAllAccounts();
      return accounts[0];
    } catch (e) {
      // A cache file of the right shape whose entries MSAL cannot read (it throws on every access): start over.
      this.log.warn({ err: e instanceof Error ? e.name : 'Error' }, 'token cache unreadable by MSAL; removed, sign-in needed');
      this.app.clearCache();
      await this.cache.clear();
      return undefined;
    }
  }

  private extraQuery(): Record<string, string> | undefined {
    const q = this.d.config.extraQueryParameters;
    return Object.keys(q).length > 0 ? { ...q } : undefined;
  }
}

const toAccount = (a: AccountInfo): Account => (a.name ? { username: a.username, name: a.name } : { username: a.username });
