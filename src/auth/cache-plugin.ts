import type { ICachePlugin, TokenCacheContext } from '@azure/msal-node';
import type { CacheLog, CacheStore } from './cache-store.js';

/** What MSAL gets when there is no cache. */
const EMPTY_CACHE = JSON.stringify({ Account: {}, IdToken: {}, AccessToken: {}, RefreshToken: {}, AppMetadata: {} });

/** The part of `CacheStore` the plugin uses. */
export type PluginStore = Pick<CacheStore, 'current' | 'save'>;

/**
 * MSAL's persistence hook over a `CacheStore`. Before each cache access MSAL gets the store's current
 * plaintext (read from disk once, then kept in memory); after an access that changed the cache, the
 * new serialization is saved (atomically, coalesced; a failed write is reported by the store, never
 * thrown into MSAL). The save is awaited, so a token MSAL returns is on disk when the call resolves.
 *
 * MSAL's `deserialize` merges into its in-memory cache, it never removes entries: `store.clear()`
 * alone leaves MSAL's memory holding the tokens, and MSAL's next change writes them back. Sign out
 * through MSAL (`removeAccount` for each account: the plugin persists the removal), or call
 * `clearCache()` on the application together with `store.clear()`.
 */
export function createCachePlugin(store: PluginStore, log?: CacheLog): ICachePlugin {
  return {
    async beforeCacheAccess(context: TokenCacheContext): Promise<void> {
      const plaintext = await store.current();
      try {
        context.tokenCache.deserialize(plaintext ?? EMPTY_CACHE);
      } catch (e) {
        // The store checked the shape; MSAL refusing it anyway leaves MSAL's memory as it was.
        log?.warn({ err: e instanceof Error ? e.name : 'Error' }, 'MSAL could not deserialize the token cache');
      }
    },
    async afterCacheAccess(context: TokenCacheContext): Promise<void> {
      if (!context.cacheHasChanged) return;
      await store.save(context.tokenCache.serialize());
    },
  };
}
