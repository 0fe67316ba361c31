import { existsSync, readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { dirname, join } from 'node:path';
import type { Config } from '../config.js';
import { httpsRequest } from './https-request.js';
import type { HttpAnswer } from './https-request.js';
import { isObject } from '../json.js';
import { freshDiscovery, key, parseMetadata } from './metadata-store.js';

/** Keep-alive pools, one per scheme, per agent (the fleet benchmark runs many agents in one process). */
export interface ProviderAgents {
  readonly https: HttpsAgent;
  readonly http: HttpAgent;
}

/**
 * What `kiosk-agent run` starts before it loads MSAL, for the network client to take over: the metadata
 * file as read, the connection pools, and the discovery request already on the wire when the saved
 * document is missing or stale.
 */
export interface EarlyProvider {
  readonly agents: ProviderAgents;
  /** The metadata file's text; undefined when it could not be read (the store reads it again and says why). */
  readonly metadataText?: string;
  /** Requests begun at process start, by URL without query; each taken once. */
  readonly requests: Map<string, Promise<HttpAnswer>>;
  /**
   * The first boot's device code, asked for as soon as the discovery document says where (see
   * `EarlyDeviceCode`); undefined when none was asked for, or it got no answer. Never rejects.
   */
  readonly deviceCode?: Promise<EarlyDeviceCode | undefined>;
  /**
   * With `deviceCode`: settles once the discovery request and the device-code request are on the wire, or
   * have failed (or no code is asked for): the one asked for with discovery, else the one sent once the
   * document says where. The agent then has nothing to do but wait for answers: the time for work that
   * would otherwise hold up a TLS handshake.
   */
  readonly sent?: Promise<void>;
}

/**
 * A device-code request sent at process start, by a kiosk that will need one (no cache file, `KIOSK_SIGN_IN=auto`):
 * its code is on screen before MSAL has loaded. It is the request MSAL makes (the URL MSAL derives from the
 * discovery document, the same form), so MSAL's own request takes its answer to poll, and only if they match.
 */
export interface EarlyDeviceCode {
  readonly url: string;
  /** The form, as `application/x-www-form-urlencoded`. */
  readonly body: string;
  readonly answer: HttpAnswer;
  /** The discovery document it was derived from, when fetched at this start: saved as the code is shown. */
  readonly discovery?: { readonly url: string; readonly document: Record<string, unknown> };
}

/** MSAL adds these to every request's scopes (msal-common `OIDC_DEFAULT_SCOPES`). */
export const OIDC_DEFAULT_SCOPES: readonly string[] = ['openid', 'profile', 'offline_access'];

/**
 * An idle connection is closed after this (or sooner when the server's Keep-Alive says so): polls a
 * few seconds apart reuse it, a refresh hours later opens a fresh one rather than trust a stale one.
 */
const KEEP_ALIVE = { keepAlive: true, timeout: 30_000 };
/** Discovery documents and key sets are kilobytes: a broken or hostile provider must not fill a Pi's memory. */
export const MAX_ANSWER_BYTES = 1 << 20;

export const newProviderAgents = (): ProviderAgents => ({ https: new HttpsAgent(KEEP_ALIVE), http: new HttpAgent(KEEP_ALIVE) });

export const metadataPath = (cachePath: string): string => join(dirname(cachePath), 'provider-metadata.json');

/**
 * Starts the discovery request (and its TLS handshake) at once, while the agent's code is still loading,
 * unless a fresh saved document makes it unnecessary; then, on a boot that will need a code, the
 * device-code request. Never throws: what fails here is met again, and reported, by the network client.
 */
export function startProviderEarly(
  config: Pick<Config, 'authority' | 'knownAuthorities' | 'cachePath' | 'httpTimeoutSeconds' | 'clientId' | 'scopes' | 'extraQueryParameters' | 'signIn'>,
  now = Date.now(),
): EarlyProvider {
  const agents = newProviderAgents();
  const requests = new Map<string, Promise<HttpAnswer>>();
  let metadataText: string | undefined;
  try {
    metadataText = readFileSync(metadataPath(config.cachePath), 'utf8');
  } catch {
    // missing or unreadable: the store says which
  }
  const url = discoveryUrl(config.authority);
  const saved = metadataText === undefined ? undefined : parseMetadata(metadataText);
  const fresh = url === undefined || saved === undefined ? undefined : freshDiscovery(saved, url, now);
  /** A request begun now: its answer, and when it is on the wire (or has failed). */
  const send = (target: string, init: { method: 'GET' } | { method: 'POST'; body: string }): { answer: Promise<HttpAnswer>; onTheWire: Promise<void> } => {
    const agent = new URL(target).protocol === 'http:' ? agents.http : agents.https;
    const headers = init.method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8' } : undefined;
    let onSent = (): void => undefined;
    const written = new Promise<void>((resolve) => (onSent = resolve));
    const answer = httpsRequest(target, { ...init, headers, agent, timeoutMs: config.httpTimeoutSeconds * 1000, maxBytes: MAX_ANSWER_BYTES, signal: new AbortController().signal, onSent });
    // Taken by the network client, which handles its failure; until then it must not count as unhandled.
    answer.catch(() => undefined);
    return { answer, onTheWire: Promise.race([written, answer.then(() => undefined, () => undefined)]) };
  };
  const discoveryRequest = url !== undefined && fresh === undefined ? send(url, { method: 'GET' }) : undefined;
  const discovery = discoveryRequest?.answer;
  if (url !== undefined && discovery !== undefined) requests.set(key(url), discovery);
  // Whether this boot needs a code: nobody can be cached without a cache file (KIOSK_REMEMBER=false keeps none).
  const needsCode = config.signIn === 'auto' && !existsSync(config.cachePath);
  if ((discovery === undefined && fresh === undefined) || !needsCode) return { agents, metadataText, requests };
  const document = discovery === undefined ? Promise.resolve(fresh) : discovery.then((a): unknown => (a.status === 200 ? JSON.parse(a.text) : undefined));
  const body = deviceCodeForm(config);
  // Where MSAL's device-code URL can be told from the authority alone, the code is asked for with the
  // discovery request, not after its answer (one round trip sooner); it is shown only if the document says the same URL.
  const predicted = discovery === undefined ? undefined : predictedDeviceCodeUrl(config.authority, config.extraQueryParameters);
  const asked = predicted === undefined ? undefined : send(predicted, { method: 'POST', body });
  let codeAsked = (_onTheWire: Promise<void>): void => undefined;
  const codeOnTheWire = new Promise<void>((resolve) => (codeAsked = resolve));
  // The code asked for with discovery is taken as the one shown: waiting for the document to say so would
  // put the agent's work where that code's answer comes in.
  if (asked !== undefined) codeAsked(asked.onTheWire);
  const deviceCode = document
    .then(async (doc): Promise<EarlyDeviceCode | undefined> => {
      const target = deviceCodeUrl(doc, config.authority, config.extraQueryParameters);
      // No code MSAL would refuse to poll is ever shown: an issuer it may not trust is left to MSAL to judge.
      if (target === undefined || !surelyTrustedIssuer(doc, config.authority, config.knownAuthorities)) return undefined;
      const fetched = discovery !== undefined && url !== undefined && isObject(doc) ? { url, document: doc } : undefined;
      const request = asked !== undefined && sameUrl(target, predicted!) ? asked : send(target, { method: 'POST', body });
      codeAsked(request.onTheWire);
      return { url: target, body, answer: await request.answer, discovery: fetched };
    })
    // Whatever failed here, MSAL meets again in its own requests, and reports.
    .catch(() => undefined);
  // No code asked for (a failed discovery, an issuer left to MSAL): nothing more to wait for.
  void deviceCode.then(() => codeAsked(Promise.resolve()));
  return { agents, metadataText, requests, deviceCode, sent: Promise.all([discoveryRequest?.onTheWire, codeOnTheWire]).then(() => undefined) };
}

/**
 * MSAL's device-code URL (msal-common `Authority.deviceCodeEndpoint`): the discovery document's
 * `token_endpoint` with its first `/token` made `/devicecode`, the authority's tenant segment put back
 * (`withAuthorityTenant`), plus the extra query parameters.
 * Undefined where MSAL would fill in a `{tenant}`, or the document has no such endpoint.
 */
export function deviceCodeUrl(doc: unknown, authority: string, extra: Readonly<Record<string, string>>): string | undefined {
  const { token_endpoint: tokenEndpoint, authorization_endpoint: authorizationEndpoint } = (doc ?? {}) as Record<string, unknown>;
  if (typeof tokenEndpoint !== 'string' || tokenEndpoint.includes('{')) return undefined;
  let url: URL;
  try {
    url = new URL(withAuthorityTenant(tokenEndpoint.replace('/token', '/devicecode'), authorizationEndpoint, authority));
  } catch {
    return undefined;
  }
  return withQuery(url.href, extra);
}

/**
 * The device-code URL MSAL will derive from the discovery document, where the authority alone tells it:
 * an authority of one tenant segment, the tenant's id (a GUID) or, outside External ID, any name but a
 * reserved one (MSAL puts the authority's own segment back into the provider's paths, `withAuthorityTenant`).
 * External ID keeps the provider's segment, its tenant id, which a domain-named authority does not show.
 */
export function predictedDeviceCodeUrl(authority: string, extra: Readonly<Record<string, string>>): string | undefined {
  const base = canonicalAuthority(authority);
  const own = base === undefined ? undefined : ownTenant(base);
  if (base === undefined || own === undefined || base.endsWith('v2.0/') || (isCiam(new URL(base)) && !TENANT_ID.test(own))) return undefined;
  return withQuery(`${base}oauth2/v2.0/devicecode`, extra);
}

const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const withQuery = (url: string, extra: Readonly<Record<string, string>>): string => {
  const query = new URLSearchParams(extra).toString();
  return query === '' ? url : `${url}?${query}`;
};

/**
 * Whether MSAL will accept the document's `issuer` by the two rules of msal-common
 * `Authority.validateIssuer` that need no list of Microsoft's hosts: the authority's own scheme and
 * host, or an https host among the known authorities. (MSAL may accept more; those boots just ask later.)
 */
export function surelyTrustedIssuer(doc: unknown, authority: string, knownAuthorities: readonly string[]): boolean {
  const issuer = (doc as { issuer?: unknown } | undefined)?.issuer;
  if (typeof issuer !== 'string' || !URL.canParse(issuer) || !URL.canParse(authority)) return false;
  const i = new URL(issuer);
  const a = new URL(authority);
  if (i.protocol === a.protocol && i.host === a.host) return true;
  return i.protocol === 'https:' && knownAuthorities.some((k) => URL.canParse(k) && new URL(k).host === i.host);
}

/** The form MSAL posts (msal-node `DeviceCodeClient.createQueryString`): scopes with OpenID's, the client, the extra parameters. */
export function deviceCodeForm(config: Pick<Config, 'clientId' | 'scopes' | 'extraQueryParameters'>): string {
  const scopes = [...new Set([...config.scopes, ...OIDC_DEFAULT_SCOPES])];
  return new URLSearchParams({ scope: scopes.join(' '), client_id: config.clientId, ...config.extraQueryParameters }).toString();
}

/** Whether MSAL's device-code request is the one sent early: the same URL, and the same form (scopes in any order). */
export function sameDeviceCodeRequest(early: Pick<EarlyDeviceCode, 'url' | 'body'>, url: string, body: string): boolean {
  const form = (text: string): string => {
    const entries = [...new URLSearchParams(text)].map(([k, v]) => [k, k === 'scope' ? v.split(' ').filter(Boolean).sort().join(' ') : v]);
    return JSON.stringify(entries.sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0)));
  };
  return sameUrl(early.url, url) && form(early.body) === form(body);
}

function sameUrl(a: string, b: string): boolean {
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return false;
  }
}

/**
 * The discovery document MSAL 7 asks for first (msal-common `defaultOpenIdConfigurationEndpoint`, with
 * External ID's rewrite of an empty path to `<tenant>.onmicrosoft.com`); undefined where that cannot be told.
 */
export function discoveryUrl(authority: string): string | undefined {
  const base = canonicalAuthority(authority);
  if (base === undefined) return undefined;
  return base.endsWith('v2.0/') ? `${base}.well-known/openid-configuration` : `${base}v2.0/.well-known/openid-configuration`;
}

/** The authority as MSAL 7 knows it: External ID's rewrite of an empty path, lower-cased (msal-common `canonicalizeUri`). */
function canonicalAuthority(authority: string): string | undefined {
  let u: URL;
  try {
    u = new URL(authority);
  } catch {
    return undefined;
  }
  if (u.search !== '' || u.pathname.toLowerCase().startsWith('/adfs')) return undefined;
  let base = u.href.endsWith('/') ? u.href : `${u.href}/`;
  if (isCiam(u) && u.port === '' && (u.pathname === '/' || u.pathname === '')) base = `${u.origin}/${u.hostname.split('.')[0]}.onmicrosoft.com/`;
  return base.toLowerCase();
}

const isCiam = (u: URL): boolean => u.hostname.endsWith('.ciamlogin.com');
/** Tenants MSAL never swaps for the tenant id (msal-common `Authority.reservedTenantDomains`). */
const RESERVED_TENANTS = new Set(['{tenant}', '{tenantid}', 'common', 'consumers', 'organizations']);

/** The canonical authority's one tenant segment, unless it has more or a reserved one: the segment `replacePath` puts back. */
function ownTenant(base: string): string | undefined {
  const segments = new URL(base).pathname.split('/').filter(Boolean);
  const own = segments[0];
  return segments.length === 1 && own !== undefined && !RESERVED_TENANTS.has(own) ? own : undefined;
}

/**
 * msal-common `Authority.replacePath`: an authority named by one tenant segment other than the id the
 * provider's endpoints use (`contoso.onmicrosoft.com` against a GUID) has its own segment put back in
 * their paths; an External ID (`*.ciamlogin.com`) authority keeps the provider's.
 */
function withAuthorityTenant(endpoint: string, authorizationEndpoint: unknown, authority: string): string {
  const base = canonicalAuthority(authority);
  const own = base === undefined ? undefined : ownTenant(base);
  if (base === undefined || own === undefined || isCiam(new URL(base)) || typeof authorizationEndpoint !== 'string') return endpoint;
  let providerTenant: string | undefined;
  try {
    providerTenant = new URL(authorizationEndpoint).pathname.split('/').filter(Boolean)[0];
  } catch {
    return endpoint;
  }
  return providerTenant === undefined || providerTenant === own ? endpoint : endpoint.replace(`/${providerTenant}/`, `/${own}/`);
}
