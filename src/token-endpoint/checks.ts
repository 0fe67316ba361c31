import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { normalizeResource } from '../resources.js';
import type { HeaderSecret } from './secret.js';

/** The App Service managed-identity protocol's version, the only one spoken (CONTRACT §8). */
export const API_VERSION = '2019-08-01';
/** Query parameters that pick a user-assigned identity: this endpoint has one identity, the signed-in account. */
const IDENTITY_SELECTORS = ['client_id', 'principal_id', 'object_id', 'mi_res_id', 'msi_res_id'];
const MAX_URL_LENGTH = 2_048;

/** A refused request: its status and the JSON `{"error","error_description"}` it is answered with. */
export interface Refusal {
  readonly status: number;
  readonly error: string;
  readonly description: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export type Route = { readonly route: 'token'; readonly resource: string; readonly requested: string } | { readonly route: 'identity' };

export interface RequestLike {
  readonly method?: string;
  readonly url?: string;
  readonly headers: IncomingHttpHeaders;
}

export interface CheckContext {
  /** Whether a `Host` header names this endpoint (`hostRule`). */
  readonly hostAllowed: (host: string | undefined) => boolean;
  readonly secret: HeaderSecret;
  /** KIOSK_TOKEN_RESOURCES, normalised. */
  readonly resources: ReadonlySet<string>;
  /** Where kiosk apps find the secret, for the 401's description. */
  readonly secretFile: string;
}

export const refuse = (status: number, error: string, description: string, headers?: Record<string, string>): Refusal => ({ status, error, description, headers });

/**
 * Everything a request must pass before a token is looked for, in order: who is asking (a browser, a
 * proxy, a foreign `Host`), how (method, path, no body), the header secret, then what it asks for. The
 * path is matched verbatim, never decoded. Returns the route or the refusal; never throws.
 */
export function checkRequest(req: RequestLike, ctx: CheckContext): Route | Refusal {
  const h = req.headers;
  if (!ctx.hostAllowed(h.host)) return refuse(403, 'forbidden', "the Host header must name this endpoint's own address (a page that rebinds a name to this kiosk is refused)");
  if (h.origin !== undefined) return refuse(403, 'forbidden', 'requests from a web page (with an Origin header) are refused: only programs on the kiosk get tokens');
  if (h['x-forwarded-for'] !== undefined || h.forwarded !== undefined) return refuse(403, 'forbidden', 'requests through a proxy (X-Forwarded-For, Forwarded) are refused');
  if (req.method !== 'GET') return refuse(405, 'method_not_allowed', 'only GET is served', { Allow: 'GET' });
  const url = req.url ?? '';
  if (url.length > MAX_URL_LENGTH) return refuse(414, 'uri_too_long', `the URL is longer than ${MAX_URL_LENGTH} characters`);
  const [path, query = ''] = splitOnce(url, '?');
  if (path !== '/msi/token' && path !== '/identity') return refuse(404, 'not_found', 'the endpoint serves /msi/token and /identity');
  if (h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0'))
    return refuse(413, 'request_too_large', 'a token request has no body');
  const given = h['x-identity-header'];
  if (given === undefined) return refuse(401, 'unauthorized', `the X-IDENTITY-HEADER header is missing; set IDENTITY_HEADER to the content of ${ctx.secretFile}`);
  if (typeof given !== 'string' || !ctx.secret.matches(given)) return refuse(401, 'unauthorized', `the X-IDENTITY-HEADER header is wrong; read it again from ${ctx.secretFile} (it changes when the agent restarts)`);
  if (path === '/identity') return { route: 'identity' };
  return tokenQuery(new URLSearchParams(query), ctx.resources);
}

function tokenQuery(params: URLSearchParams, allowed: ReadonlySet<string>): Route | Refusal {
  const versions = params.getAll('api-version');
  if (versions.length !== 1 || versions[0] !== API_VERSION) return refuse(400, 'invalid_request', `api-version must be ${API_VERSION}`);
  const selector = IDENTITY_SELECTORS.find((name) => params.has(name));
  if (selector !== undefined) return refuse(400, 'invalid_request', `${selector} is not supported: this endpoint serves one identity, the account signed in on the kiosk`);
  const requested = params.getAll('resource');
  if (requested.length !== 1 || requested[0] === '') return refuse(400, 'invalid_resource', 'give exactly one resource, e.g. resource=api://<app-id>');
  const raw = requested[0] as string;
  const resource = normalizeResource(raw);
  if (resource === undefined || !allowed.has(resource))
    return refuse(400, 'invalid_resource', `the resource is not one kiosk apps may ask for; allowed: ${[...allowed].join(' ')} (KIOSK_TOKEN_RESOURCES)`);
  return { route: 'token', resource, requested: raw };
}

/**
 * Which `Host` headers name this endpoint: its own address and port; for a loopback address also
 * `localhost`, `127.0.0.1` and `[::1]`, as a client on the kiosk sends them; for an unspecified address
 * (`0.0.0.0`, `::`) any IP address or `localhost`. A host name never passes otherwise: that is what a
 * DNS-rebinding page would send.
 */
export function hostRule(listenHost: string, port: number): (host: string | undefined) => boolean {
  const own = listenHost.toLowerCase();
  const unspecified = own === '0.0.0.0' || own === '::';
  const loopback = own === 'localhost' || own === '::1' || own.startsWith('127.');
  return (host) => {
    const m = host === undefined ? null : /^(\[[0-9a-f:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(host.toLowerCase());
    if (!m || Number(m[2]) !== port) return false;
    const name = (m[1] as string).replace(/^\[(.*)\]$/, '$1');
    if (name === own) return true;
    if (unspecified) return name === 'localhost' || isIP(name) !== 0;
    return loopback && (name === 'localhost' || name === '127.0.0.1' || name === '::1');
  };
}

function splitOnce(text: string, separator: string): [string, string?] {
  const at = text.indexOf(separator);
  return at < 0 ? [text] : [text.slice(0, at), text.slice(at + 1)];
}
