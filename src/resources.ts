/**
 * Resources and scopes as the Microsoft identity platform names them (CONTRACT §8): the scope
 * `api://app/kiosk.read` belongs to the resource `api://app`, and `<resource>/.default` asks for every
 * scope consented for it. Managed-identity clients name a resource with or without a trailing `/`, or
 * as its `/.default` scope (`@azure/identity` strips `/.default` itself): one resource, many spellings.
 */

/** Scopes of the sign-in itself: never a resource a kiosk app can ask for. */
export const OIDC_SCOPES: ReadonlySet<string> = new Set(['openid', 'profile', 'offline_access', 'email']);

const MAX_RESOURCE_LENGTH = 512;
/** `api://…` or `https://…` with something after the scheme; no spaces, controls, query or fragment. */
const RESOURCE = /^(api|https):\/\/[^\s/?#\p{Cc}][^\s?#\p{Cc}]*$/u;

/** The resource a scope belongs to; undefined for OIDC scopes and bare names such as `User.Read`. */
export function resourceOfScope(scope: string): string | undefined {
  if (OIDC_SCOPES.has(scope)) return undefined;
  const resource = normalizeResource(scope.slice(0, scope.lastIndexOf('/')));
  return resource !== undefined && scope.length > resource.length + 1 ? resource : undefined;
}

/** The one spelling of a resource (no `/.default`, no trailing `/`), or undefined when it is not one. */
export function normalizeResource(raw: string): string | undefined {
  let resource = raw.endsWith('/.default') ? raw.slice(0, -'/.default'.length) : raw;
  while (resource.endsWith('/')) resource = resource.slice(0, -1);
  if (resource.length > MAX_RESOURCE_LENGTH || !RESOURCE.test(resource)) return undefined;
  return resource;
}

/** The scopes to ask MSAL for on behalf of `resource`: its own scopes in KIOSK_SCOPES, else `<resource>/.default`. */
export function scopesFor(resource: string, scopes: readonly string[]): string[] {
  const own = scopes.filter((s) => resourceOfScope(s) === resource);
  return own.length > 0 ? own : [`${resource}/.default`];
}
