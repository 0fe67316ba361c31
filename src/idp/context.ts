import type { Faults } from './faults.js';
import type { SigningKeys } from './keys.js';
import type { RequestLog } from './request-log.js';
import type { Store } from './store.js';

/** Everything a request handler needs, shared by the HTTPS endpoints and the control API. */
export interface IdpContext {
  readonly store: Store;
  readonly keys: SigningKeys;
  readonly faults: Faults;
  readonly log: RequestLog;
  /** Host names (and IPs) the certificate covers: a Host header naming one of them sets the origin. */
  readonly names: ReadonlySet<string>;
  /** The advertised origin, `https://HOST:PORT` (known once the server listens). */
  primaryOrigin(): string;
  /** Set when the verification URI is given explicitly (e.g. the provider runs in a container). */
  readonly verificationUri?: string;
  /** Other path segments accepted in place of the tenant id (e.g. `contoso.onmicrosoft.com`). */
  readonly tenantAliases: ReadonlySet<string>;
}

/**
 * The origin a client used, from its Host header when that names this provider (so a provider reached
 * as `https://idp:8443` inside a compose network answers with that origin), else the advertised one.
 */
export function requestOrigin(ctx: IdpContext, host: string | undefined): string {
  if (host !== undefined && URL.canParse(`https://${host}`)) {
    const url = new URL(`https://${host}`);
    const name = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    if (ctx.names.has(name) && url.username === '' && url.pathname === '/') return url.origin;
  }
  return ctx.primaryOrigin();
}

/** The tenant's issuer (`https://HOST:PORT/<tenant>/v2.0`), unless the `issuer` fault overrides it. */
export const issuerFor = (ctx: IdpContext, origin: string): string =>
  ctx.faults.settings.issuer ?? `${origin}/${ctx.store.tenantId}/v2.0`;

export const verificationUriFor = (ctx: IdpContext, origin: string): string => ctx.verificationUri ?? `${origin}/device`;

/** True when a path segment names this provider's tenant (its id, or an alias). */
export const isOwnTenant = (ctx: IdpContext, segment: string): boolean =>
  segment.toLowerCase() === ctx.store.tenantId || ctx.tenantAliases.has(segment.toLowerCase());
