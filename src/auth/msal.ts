/**
 * MSAL Node, loaded on first use rather than at boot: its code is a fifth of a boot's JavaScript, and a
 * first boot draws its code before MSAL is needed (the device-code answer began at process start; MSAL
 * takes it over to poll). Every value from `@azure/msal-node` is reached through here.
 */
import type * as Msal from '@azure/msal-node';

let loading: Promise<typeof Msal> | undefined;
let loaded: typeof Msal | undefined;

export function loadMsal(): Promise<typeof Msal> {
  return (loading ??= import('@azure/msal-node').then((m) => (loaded = m)));
}

/** MSAL once loaded; undefined before, when no error of its kind can exist yet. */
export const loadedMsal = (): typeof Msal | undefined => loaded;
