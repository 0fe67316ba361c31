import { readFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeAtomic } from '../atomic-file.js';
import type { Logger } from '../log.js';
import { errnoCode, isENOENT } from '../errors.js';
import { isObject, jsonObject } from '../json.js';

/**
 * A saved discovery document is served at boot without asking for this long after it was fetched (the
 * age msal-browser gives its own cached authority metadata): a reboot skips that round trip, and a
 * provider's changed document is still picked up within a day. Key sets are always fetched when asked for.
 */
export const DISCOVERY_FRESH_MS = 24 * 3_600_000;
/** An unchanged document fetched again rewrites the file only once its recorded time is this old. */
const REWRITE_AFTER_MS = DISCOVERY_FRESH_MS / 2;

/** The file's shape: each document with when it was last fetched (epoch ms). */
interface Saved {
  readonly version: 2;
  readonly documents: Record<string, { readonly fetched_at: number; readonly body: unknown }>;
}

/**
 * The provider's discovery document and signing keys, kept beside the token cache. With them a
 * rebooted kiosk skips the discovery round trip while its document is fresh, still resolves its authority
 * when the provider is unreachable (MSAL asks for the discovery document before it looks at cached tokens)
 * and still verifies cached ID tokens. Nothing here is secret.
 */
export class MetadataStore {
  private docs: Saved['documents'] = {};

  constructor(private readonly d: { path: string; log: Logger; now?: () => number }) {}

  /** `text`: the file as already read (at process start), else it is read now. */
  async load(text?: string): Promise<void> {
    try {
      text ??= await readFile(this.d.path, 'utf8');
    } catch (e) {
      this.docs = {};
      if (!isENOENT(e)) this.d.log.warn({ code: errnoCode(e), path: this.d.path }, 'cannot read the saved provider metadata; fetching it again');
      return;
    }
    const docs = parseMetadata(text);
    // Damaged: it is fetched again, nothing is lost.
    if (docs === undefined) this.d.log.warn({ path: this.d.path }, 'saved provider metadata is damaged; ignored, fetching it again');
    this.docs = docs ?? {};
  }

  get(url: string): unknown {
    return this.docs[key(url)]?.body;
  }

  /** The saved discovery document for `url` while it is fresh and usable by MSAL, else undefined. */
  freshDiscovery(url: string): Record<string, unknown> | undefined {
    return freshDiscovery(this.docs, url, (this.d.now ?? Date.now)());
  }

  find(match: (url: string) => boolean): unknown {
    const k = Object.keys(this.docs).find(match);
    return k === undefined ? undefined : this.docs[k]?.body;
  }

  async set(url: string, doc: unknown): Promise<void> {
    const k = key(url);
    const now = (this.d.now ?? Date.now)();
    const old = this.docs[k];
    if (old && JSON.stringify(old.body) === JSON.stringify(doc) && now - old.fetched_at >= 0 && now - old.fetched_at < REWRITE_AFTER_MS) return;
    this.docs = { ...this.docs, [k]: { fetched_at: now, body: doc } };
    try {
      await mkdir(dirname(this.d.path), { recursive: true, mode: 0o700 });
      const saved: Saved = { version: 2, documents: this.docs };
      await writeAtomic(this.d.path, JSON.stringify(saved), 0o644);
    } catch (e) {
      this.d.log.warn({ code: errnoCode(e), path: this.d.path }, 'cannot save provider metadata');
    }
  }
}

/**
 * The documents in a metadata file, or undefined when it is damaged. A file of the first version (a map of
 * URL to document) reads with no fetch times: served when the provider is unreachable, fetched again at boot.
 */
export function parseMetadata(text: string): Saved['documents'] | undefined {
  const parsed = jsonObject(text);
  if (parsed === undefined) return undefined;
  if (parsed.version === undefined) return Object.fromEntries(Object.entries(parsed).map(([url, body]) => [url, { fetched_at: 0, body }]));
  if (parsed.version !== 2 || !isObject(parsed.documents)) return undefined;
  const docs: Record<string, { fetched_at: number; body: unknown }> = {};
  for (const [url, entry] of Object.entries(parsed.documents))
    if (isObject(entry) && typeof entry.fetched_at === 'number' && Number.isFinite(entry.fetched_at)) docs[url] = { fetched_at: entry.fetched_at, body: entry.body };
  return docs;
}

/**
 * A discovery document MSAL can use as it is (the endpoints it reads, as strings), fetched less than
 * DISCOVERY_FRESH_MS ago by this clock. A clock behind the fetch time (a Pi before NTP) cannot tell its age.
 */
export function freshDiscovery(docs: Saved['documents'], url: string, now: number): Record<string, unknown> | undefined {
  if (!isDiscoveryUrl(url)) return undefined;
  const entry = docs[key(url)];
  if (entry === undefined || !isObject(entry.body)) return undefined;
  const age = now - entry.fetched_at;
  if (age < 0 || age >= DISCOVERY_FRESH_MS) return undefined;
  const body = entry.body;
  return MSAL_ENDPOINTS.every((field) => typeof body[field] === 'string') ? body : undefined;
}

/** What MSAL's authority reads from the document before any request (msal-common `isOpenIdConfigResponse`). */
const MSAL_ENDPOINTS = ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri'];

export const isDiscoveryUrl = (url: string): boolean => key(url).endsWith('/.well-known/openid-configuration');

/** Query strings (MSAL adds correlation ids) do not make a different document. */
export const key = (url: string): string => url.split('?')[0] ?? url;
