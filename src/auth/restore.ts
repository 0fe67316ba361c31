import type { AccountInfo } from '@azure/msal-node';
import type { Clock } from '../clock.js';
import type { AuthConfig } from '../config.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import type { Account } from '../state.js';
import type { Attempt } from './attempts.js';
import type { CacheStore } from './cache-store.js';
import { IdTokenInvalid } from './id-token.js';
import type { IdentityCheck } from './identity.js';
import { accountOf, readSavedSignIn } from './saved-sign-in.js';
import type { SavedSignIn } from './saved-sign-in.js';

export interface RestoreDeps {
  config: AuthConfig;
  clock: Clock;
  log: Logger;
  cache: CacheStore;
  identity: IdentityCheck;
  /** Whether MSAL has begun loading: from then on, its cache is the one read. */
  msalLoading(): boolean;
  /** The cached account as MSAL reads it (loading MSAL), and MSAL's serialized cache once loaded. */
  msalAccount(): Promise<AccountInfo | undefined>;
  msalCache(): string;
}

/**
 * What a reboot knows from the saved cache before any network call: whether an account is cached, and
 * its name once its ID token verifies against the saved keys (the `restoring` frame); and, before MSAL
 * has loaded, the sign-in MSAL would answer from its cache (saved-sign-in.ts), so that "Signed in" does
 * not wait for MSAL's code to load.
 */
export class Restore {
  constructor(private readonly d: RestoreDeps) {}

  async cachedAccount(): Promise<{ account?: Account } | undefined> {
    // A cache locked under another key is read again each time: its file may have been put right since.
    if (this.d.cache.locked) await this.d.cache.load();
    const saved = await this.saved();
    const account = saved === undefined ? await this.d.msalAccount() : undefined;
    const idToken = saved?.idToken ?? (account && this.msalIdToken(account));
    if (idToken === undefined) return saved || account ? {} : undefined;
    try {
      await this.d.identity.verify(idToken, { ignoreTimes: true, savedKeysOnly: true });
      return { account: account ? toAccount(account) : accountOf(idToken) };
    } catch (e) {
      this.d.log.debug({ reason: e instanceof IdTokenInvalid ? e.reason : messageOf(e) }, 'cached account not verified offline; restoring it unnamed');
      return {};
    }
  }

  /**
   * The sign-in without loading MSAL: its cached access token still good and its ID token verified
   * against the saved keys, as `Auth.accept` checks MSAL's answer. Anything less (a token due for
   * refresh, keys to fetch, a token that fails) is MSAL's to handle, and to report.
   */
  async withoutMsal(): Promise<Attempt | undefined> {
    const saved = await this.saved();
    if (saved?.accessTokenExpiresAt === undefined) return undefined;
    try {
      const claims = await this.d.identity.verify(saved.idToken, { savedKeysOnly: true });
      return { kind: 'ok', tokens: { account: accountOf(saved.idToken), claims, expiresAt: saved.accessTokenExpiresAt } };
    } catch {
      return undefined;
    }
  }

  private async saved(): Promise<SavedSignIn | undefined> {
    const text = !this.d.msalLoading() && this.d.config.remember ? await this.d.cache.current() : undefined;
    return text === undefined ? undefined : readSavedSignIn(text, { ...this.d.config, now: this.d.clock.now() });
  }

  /** The account's ID token from MSAL's serialized cache (its `AccountInfo` from the cache carries none). */
  private msalIdToken(account: AccountInfo): string | undefined {
    const cache = JSON.parse(this.d.msalCache()) as { IdToken?: Record<string, { home_account_id?: string; client_id?: string; secret?: string }> };
    const entry = Object.values(cache.IdToken ?? {}).find((t) => t.home_account_id === account.homeAccountId && t.client_id === this.d.config.clientId);
    return typeof entry?.secret === 'string' ? entry.secret : undefined;
  }
}

export const toAccount = (a: AccountInfo): Account => (a.name ? { username: a.username, name: a.name } : { username: a.username });
