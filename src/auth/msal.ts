/**
 * MSAL Node, loaded on first use rather than at boot: its code is a fifth of a boot's JavaScript, and a
 * first boot draws its code before MSAL is needed (the device-code answer began at process start; MSAL
 * takes it over to poll). Every value from `@azure/msal-node` is reached through here (`msal-parts.ts`).
 */
import type { PublicClientApplication } from '@azure/msal-node';
import type * as Msal from './msal-parts.js';
import type { AuthConfig } from '../config.js';
import type { Logger } from '../log.js';
import { scrub } from '../scrub.js';
import { createCachePlugin } from './cache-plugin.js';
import type { CacheStore } from './cache-store.js';
import type { ProviderNetworkClient } from './network-client.js';

let loading: Promise<typeof Msal> | undefined;
let loaded: typeof Msal | undefined;

export function loadMsal(): Promise<typeof Msal> {
  return (loading ??= import('./msal-parts.js').then((m) => (loaded = m)));
}

/** MSAL once loaded; undefined before, when no error of its kind can exist yet. */
export const loadedMsal = (): typeof Msal | undefined => loaded;

/** The agent's MSAL application: its cache through our store (or MSAL's memory alone), its HTTP through our client. */
export async function newApplication(d: { config: AuthConfig; log: Logger; cache: CacheStore; net: ProviderNetworkClient }): Promise<PublicClientApplication> {
  const { LogLevel, PublicClientApplication } = await loadMsal();
  const { config } = d;
  // A child of the agent's logger, not of auth's: one `module` key per line.
  const msalLog = d.log.child({ module: 'msal' });
  return new PublicClientApplication({
    auth: { clientId: config.clientId, authority: config.authority, knownAuthorities: [...config.knownAuthorities] },
    // KIOSK_REMEMBER=false: no plugin, so MSAL's cache stays in its memory (memory-cache.ts).
    cache: config.remember ? { cachePlugin: createCachePlugin(d.cache) } : {},
    system: {
      networkClient: d.net,
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
