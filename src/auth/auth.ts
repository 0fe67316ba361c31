import type { AccountInfo, AuthenticationResult, DeviceCodeRequest, PublicClientApplication } from '@azure/msal-node';
import type { Clock } from '../clock.js';
import type { AuthConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { Account, ProviderFault } from '../state.js';
import { CacheStore } from './cache-store.js';
import { removeSavedCache } from './memory-cache.js';
import { EXPIRED, NOT_YET_VALID } from './id-token.js';
import { metadataPath } from './early-provider.js';
import type { EarlyProvider } from './early-provider.js';
import { MetadataStore } from './metadata-store.js';
import { newApplication } from './msal.js';
import { ProviderNetworkClient } from './network-client.js';
import { classify, fault } from './provider-errors.js';
import { Verdicts } from './verdicts.js';
import { IdentityCheck } from './identity.js';
import { signInPage } from './sign-in-page.js';
import { refusal } from './attempts.js';
import { Restore, toAccount } from './restore.js';
import type { AccessTokenAttempt, Attempt, DeviceCode } from './attempts.js';

export type { AccessTokenAttempt, Attempt, DeviceCode, Tokens } from './attempts.js';

export interface AuthDeps {
  config: AuthConfig;
  log: Logger;
  clock: Clock;
  /** Aborted on shutdown. */
  signal: AbortSignal;
  /** What `kiosk-agent run` began before MSAL loaded: the metadata file as read, the discovery request. */
  early?: EarlyProvider;
  /** What a code shown before MSAL loaded waits for before MSAL loads (the agent: MQTT's first connection, bounded). */
  beforeMsal?: () => Promise<void>;
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
  private readonly identity: IdentityCheck;
  private readonly verdicts: Verdicts;
  private readonly restore: Restore;
  /** MSAL's application, made on first need (`application()`): a first boot shows its code before. */
  private app?: PublicClientApplication;
  private appLoading?: Promise<PublicClientApplication>;
  private readonly log: Logger;
  /** The sign-in page last logged: it is logged once, and again only if it changes. */
  private pageLogged?: string;
  /** The last ID token `accessToken` verified. */
  private verifiedForApps?: string;

  constructor(private readonly d: AuthDeps) {
    const { config } = d;
    this.log = d.log.child({ module: 'auth' });
    this.cache = new CacheStore({ path: config.cachePath, key: config.cacheKey, log: this.log });
    this.metadata = new MetadataStore({ path: metadataPath(config.cachePath), log: this.log, now: () => d.clock.now() });
    this.net = new ProviderNetworkClient({
      timeoutMs: config.httpTimeoutSeconds * 1000,
      codeLifetimeMs: config.codeLifetimeSeconds === undefined ? undefined : config.codeLifetimeSeconds * 1000,
      log: this.log,
      clock: d.clock,
      metadata: this.metadata,
      signal: d.signal,
      early: d.early,
    });
    this.identity = new IdentityCheck({ config, metadata: this.metadata, net: this.net, clock: d.clock });
    this.verdicts = new Verdicts({ identity: this.identity, net: this.net, log: this.log });
    this.restore = new Restore({
      config, clock: d.clock, log: this.log, cache: this.cache, identity: this.identity,
      msalLoading: () => this.appLoading !== undefined,
      msalAccount: () => this.msalAccount(),
      msalCache: () => this.app!.getTokenCache().serialize(),
    });
  }

  private application(): Promise<PublicClientApplication> {
    return (this.appLoading ??= newApplication({ config: this.d.config, log: this.d.log, cache: this.cache, net: this.net }).then((app) => (this.app = app)));
  }

  /** Loads MSAL ahead of its first use (a kiosk app's first token), once a restored sign-in is on screen without it. */
  prepare(): void {
    this.application().catch(() => undefined);
  }

  async start(): Promise<void> {
    if (!this.d.config.remember) await removeSavedCache(this.d.config.cachePath, this.log);
    await this.metadata.load(this.d.early?.metadataText);
  }

  /** Whether an account is cached, and its verified name (restore.ts). */
  cachedAccount(): Promise<{ account?: Account } | undefined> {
    return this.restore.cachedAccount();
  }

  /** Tokens from the cache, or from the refresh token when `force` or when the access token is due. */
  async silent(force: boolean): Promise<Attempt> {
    if (!force) {
      const restored = await this.restore.withoutMsal();
      if (restored !== undefined) return restored;
    }
    const account = await this.msalAccount();
    if (!account) return { kind: 'interaction_required', code: 'no_account_found' };
    const request = { account, scopes: [...this.d.config.scopes], forceRefresh: force, extraQueryParameters: this.extraQuery() };
    this.net.lastFailure = undefined;
    try {
      const result = await (await this.application()).acquireTokenSilent(request);
      return await this.accept(result, force);
    } catch (e) {
      return this.verdicts.failed(e);
    }
  }

  /**
   * CONTRACT §8, for the local token endpoint only (the one way a token leaves this module): an access
   * token for `scopes` for the cached account, silently: from MSAL's cache, or refreshed by MSAL when
   * due, never a device code. It is handed out only while the account's ID token (the one a refresh
   * for this resource brought, or the cached one) verifies, its times aside (they say nothing about the
   * access token): a refresh answered with a forged ID token leaves its access token in MSAL's cache,
   * and that token is refused too.
   */
  async accessToken(scopes: readonly string[]): Promise<AccessTokenAttempt> {
    return this.net.ownFailures(async () => {
      const account = await this.msalAccount();
      if (!account) return { kind: 'refused', code: 'not_signed_in', message: 'nobody is signed in' };
      let result: AuthenticationResult;
      try {
        result = await (await this.application()).acquireTokenSilent({ account, scopes: [...scopes], extraQueryParameters: this.extraQuery() });
      } catch (e) {
        return refusal(classify(e, this.net.lastFailure));
      }
      // The same ID token verifies the same way (its times aside): checked once, not on every request.
      if (result.idToken !== this.verifiedForApps) {
        const checked = await this.verdicts.check(result.idToken, { fresh: !result.fromCache, ignoreTimes: true });
        if ('outcome' in checked) return refusal(checked.outcome);
        if ('invalid' in checked) {
          this.log.warn({ reason: checked.invalid.reason }, 'ID token failed verification; no access token for the kiosk app');
          return refusal({ kind: 'fatal', fault: fault('invalid_id_token', checked.invalid.reason) });
        }
        this.verifiedForApps = result.idToken;
      }
      if (!result.accessToken || !result.expiresOn) return refusal({ kind: 'fatal', fault: fault('no_result', 'the provider returned no access token') });
      return { kind: 'ok', accessToken: result.accessToken, expiresAt: result.expiresOn.getTime() };
    });
  }

  /** One device code, from request to approval or to its end; `onCode` shows it. */
  async deviceCode(onCode: (code: DeviceCode) => void, signal: AbortSignal): Promise<Attempt> {
    let issued: string | undefined;
    const show = (r: { userCode: string; verificationUri: string; expiresIn: number; message?: string }, complete: string | undefined): void => {
      const page = signInPage(this.d.config.verificationUri, this.d.config.authority, { uri: r.verificationUri, complete });
      if (this.pageLogged !== page.verificationUri) this.log.info({ page: page.verificationUri, reason: page.reason }, 'sign-in page chosen');
      this.pageLogged = page.verificationUri;
      const { verificationUri, verificationUriComplete } = page;
      onCode({ userCode: r.userCode, verificationUri, verificationUriComplete, expiresAt: this.d.clock.now() + r.expiresIn * 1000, message: r.message ?? '' });
    };
    // A first boot's code, asked for at process start: on screen now, polled by MSAL once it has loaded.
    const early = this.app === undefined ? await this.net.earlyDeviceCode() : undefined;
    if (early !== undefined && !signal.aborted) {
      show(early, early.verificationUriComplete);
      await this.d.beforeMsal?.();
    }
    if (signal.aborted) {
      this.net.dropEarlyCode();
      return { kind: 'cancelled' };
    }
    const request: DeviceCodeRequest = {
      scopes: [...this.d.config.scopes],
      extraQueryParameters: this.extraQuery(),
      deviceCodeCallback: (r) => {
        issued = r.deviceCode;
        if (r.deviceCode !== early?.deviceCode) show(r, this.net.verificationUriComplete(r.deviceCode));
      },
    };
    this.net.lastFailure = undefined;
    // MSAL checks `cancel` on the object it was given, between polls.
    const cancel = (): void => void (request.cancel = true);
    signal.addEventListener('abort', cancel, { once: true });
    try {
      const result = await (await this.application()).acquireTokenByDeviceCode(request);
      if (signal.aborted) return { kind: 'cancelled' };
      if (!result) return { kind: 'fatal', fault: fault('no_result', 'the provider returned no tokens') };
      return await this.accept(result, true);
    } catch (e) {
      return signal.aborted ? { kind: 'cancelled' } : this.verdicts.failed(e);
    } finally {
      signal.removeEventListener('abort', cancel);
      this.net.dropEarlyCode();
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
    const cache = (await this.application()).getTokenCache();
    for (const account of await cache.getAllAccounts()) await cache.removeAccount(account);
    await this.cache.flush();
  }

  async flush(): Promise<void> {
    await this.cache.flush();
  }

  /**
   * Tokens count only with a verified ID token: its account and claims are what the kiosk shows and
   * publishes. Keys that cannot be fetched leave the tokens in the cache and the identity unshown
   * (`keys_unreachable`, retried like a network fault); a token that fails its checks signs out.
   */
  private async accept(result: AuthenticationResult, fresh: boolean): Promise<Attempt> {
    if (!result.account) return { kind: 'fatal', fault: fault('no_account', 'the provider returned no account (no ID token or client_info)') };
    let checked = await this.verdicts.check(result.idToken, { fresh });
    // A cached ID token may simply have aged, or the kiosk's clock be off (a Pi before NTP): fetch a
    // fresh one; without network, the cached one still proves who it names (its times aside).
    if ('invalid' in checked && !fresh && (checked.invalid.reason === EXPIRED || checked.invalid.reason === NOT_YET_VALID)) {
      const refreshed = await this.silent(true);
      if (refreshed.kind !== 'network') return refreshed;
      checked = await this.verdicts.check(result.idToken, { ignoreTimes: true });
    }
    if ('outcome' in checked) return checked.outcome;
    if ('invalid' in checked) {
      this.log.warn({ reason: checked.invalid.reason }, 'ID token failed verification; signing out');
      await this.signOut();
      return { kind: 'fatal', fault: fault('invalid_id_token', checked.invalid.reason) };
    }
    const expiresAt = result.expiresOn?.getTime() ?? this.d.clock.now();
    return { kind: 'ok', tokens: { account: toAccount(result.account), claims: checked.claims, expiresAt } };
  }

  private async msalAccount(): Promise<AccountInfo | undefined> {
    // Nothing saved and MSAL not loaded yet (its memory empty): no account, and no need to load MSAL to say so.
    if (this.app === undefined && (!this.d.config.remember || (await this.cache.current()) === undefined)) return undefined;
    const app = await this.application();
    try {
      const accounts = await app.getTokenCache().getAllAccounts();
      return accounts[0];
    } catch (e) {
      // A cache file of the right shape whose entries MSAL cannot read (it throws on every access): start over.
      this.log.warn({ err: e instanceof Error ? e.name : 'Error' }, 'token cache unreadable by MSAL; removed, sign-in needed');
      app.clearCache();
      await this.cache.clear();
      return undefined;
    }
  }

  private extraQuery(): Record<string, string> | undefined {
    const q = this.d.config.extraQueryParameters;
    return Object.keys(q).length > 0 ? { ...q } : undefined;
  }
}
