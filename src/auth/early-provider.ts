import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { dirname, join } from 'node:path';
import type { Config } from '../config.js';
import { httpsRequest } from './https-request.js';
import type { HttpAnswer } from './https-request.js';
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
}

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
 * Starts the discovery request (and its TLS handshake) at once, while MSAL is still loading, unless a
 * fresh saved document makes it unnecessary. Never throws: what fails here is met again, and reported,
 * by the network client.
 */
export function startProviderEarly(config: Pick<Config, 'authority' | 'cachePath' | 'httpTimeoutSeconds'>, now = Date.now()): EarlyProvider {
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
  if (url !== undefined && (saved === undefined || freshDiscovery(saved, url, now) === undefined)) {
    const agent = new URL(url).protocol === 'http:' ? agents.http : agents.https;
    const answer = httpsRequest(url, { method: 'GET', agent, timeoutMs: config.httpTimeoutSeconds * 1000, maxBytes: MAX_ANSWER_BYTES, signal: new AbortController().signal });
    // Taken by the network client, which handles its failure; until then it must not count as unhandled.
    answer.catch(() => undefined);
    requests.set(key(url), answer);
  }
  return { agents, metadataText, requests };
}

/**
 * The discovery document MSAL 7 asks for first (msal-common `defaultOpenIdConfigurationEndpoint`, with
 * External ID's rewrite of an empty path to `<tenant>.onmicrosoft.com`); undefined where that cannot be told.
 */
export function discoveryUrl(authority: string): string | undefined {
  let u: URL;
  try {
    u = new URL(authority);
  } catch {
    return undefined;
  }
  if (u.search !== '' || u.pathname.toLowerCase().startsWith('/adfs')) return undefined;
  let base = u.href.endsWith('/') ? u.href : `${u.href}/`;
  if (u.hostname.endsWith('.ciamlogin.com') && u.port === '' && (u.pathname === '/' || u.pathname === '')) base = `${u.origin}/${u.hostname.split('.')[0]}.onmicrosoft.com/`;
  // MSAL lower-cases the authority it asks under (msal-common `canonicalizeUri`).
  return (base.endsWith('v2.0/') ? `${base}.well-known/openid-configuration` : `${base}v2.0/.well-known/openid-configuration`).toLowerCase();
}
