import { AgentError } from '../errors.js';
import { isObject } from '../json.js';

/** What a token cache file must be, and the ways it can fail to be one (CacheCorruptError's codes). */

/** The sections of MSAL's serialized cache (docs/MSAL-NODE.md). */
export const CACHE_SECTIONS = ['Account', 'IdToken', 'AccessToken', 'RefreshToken', 'AppMetadata'] as const;

export type CacheCorruptCode =
  | 'empty'
  | 'not_json'
  | 'not_cache'
  | 'bad_envelope'
  | 'unsupported_version'
  | 'auth_failed'
  | 'key_mismatch'
  | 'no_key';

const REASONS: Record<CacheCorruptCode, string> = {
  empty: 'empty file',
  not_json: 'not JSON',
  not_cache: 'not an MSAL token cache',
  bad_envelope: 'malformed encrypted envelope',
  unsupported_version: 'unsupported envelope version or algorithm',
  auth_failed: 'damaged or tampered',
  key_mismatch: 'encrypted with another KIOSK_CACHE_KEY',
  no_key: 'encrypted but KIOSK_CACHE_KEY is not set',
};

/**
 * A cache file the agent cannot use. `reason` is a fixed short phrase: it never carries any of the
 * file's content, so it is safe to log and to show.
 */
export class CacheCorruptError extends AgentError {
  readonly reason: string;
  constructor(readonly code: CacheCorruptCode) {
    super(`token cache unusable: ${REASONS[code]}`);
    this.name = 'CacheCorruptError';
    this.reason = REASONS[code];
  }
}

/**
 * Throws `CacheCorruptError('not_cache')` unless `value` looks like MSAL's serialized cache: an object
 * with at least one known section, every known section an object of objects. Other keys are tolerated.
 */
export function assertCacheShape(value: unknown): void {
  if (!isObject(value)) throw new CacheCorruptError('not_cache');
  let sections = 0;
  for (const name of CACHE_SECTIONS) {
    if (!(name in value)) continue;
    const section = value[name];
    if (!isObject(section) || !Object.values(section).every(isObject)) throw new CacheCorruptError('not_cache');
    sections++;
  }
  if (sections === 0) throw new CacheCorruptError('not_cache');
}

/** JSON of a cache file: `empty` or `not_json` when it is not. */
export function parseCacheJson(text: string): unknown {
  if (text.trim() === '') throw new CacheCorruptError('empty');
  try {
    return JSON.parse(text);
  } catch {
    throw new CacheCorruptError('not_json');
  }
}
