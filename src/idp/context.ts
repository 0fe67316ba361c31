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
  /** Entra External ID mode: device-code answers name the global page, which refuses the tenant's accounts. */
  readonly externalId: boolean;
  /** External ID mode: the global sign-in page named in device-code answers. */
  readonly globalVerificationUri: string;
  /** The `tid` of ID tokens minted with the `foreign_tenant` fault: another tenant, the same for one run. */
  readonly foreignTenantId: string;
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

/** The page a device-code answer names: External ID's global page, else the given or the local `/device` page. */
export const verificationUriFor = (ctx: IdpContext, origin: string): string =>
  ctx.externalId ? ctx.globalVerificationUri : (ctx.verificationUri ?? `${origin}/device`);

/** Path of the sign-in page of the tenant itself, as External ID serves it on the authority's host. */
export const TENANT_PAGE_PATH = '/common/oauth2/deviceauth';
/** Path of the stand-in for the global page (`https://microsoft.com/devicelogin`). */
export const GLOBAL_PAGE_PATH = '/devicelogin';

/** True when a path segment names this provider's tenant (its id, or an alias). */
export const isOwnTenant = (ctx: IdpContext, segment: string): boolean =>
  segment.toLowerCase() === ctx.store.tenantId || ctx.tenantAliases.has(segment.toLowerCase());
