// The default export is the module object itself: tests can count key derivations.
import crypto from 'node:crypto';
import { isObject } from '../json.js';
import { assertCacheShape, CacheCorruptError, parseCacheJson } from './cache-shape.js';

export { assertCacheShape, CACHE_SECTIONS, CacheCorruptError } from './cache-shape.js';
export type { CacheCorruptCode } from './cache-shape.js';

/**
 * The token cache at rest (CONTRACT §3 KIOSK_CACHE_PATH, KIOSK_CACHE_KEY).
 *
 * Without a key the file is MSAL's serialized cache as is (plain JSON). With a key it is a versioned
 * JSON envelope, AES-256-GCM under a key derived from the passphrase by scrypt:
 *
 *   {"kiosk_cache":1,"alg":"A256GCM","kdf":"scrypt","n":16384,"r":8,"p":1,
 *    "salt":"<16 bytes, base64>","iv":"<12 bytes, base64>","tag":"<16 bytes, base64>","data":"<base64>",
 *    "kcv":"<16 bytes, base64>"}
 *
 * The header (version, alg, kdf, n, r, p, salt) is authenticated as additional data, so a changed
 * header fails like a changed ciphertext. `kcv` (key check value: HMAC-SHA256 of a fixed label under
 * the derived key, truncated) tells a wrong key (`key_mismatch`: the file is fine, keep it) from a
 * damaged file (`auth_failed`); a file written before it existed fails as `key_mismatch` either way,
 * the safe reading. The file ends with a newline.
 */

export const ENVELOPE_VERSION = 1;

export interface ScryptParams {
  /** CPU/memory cost, a power of two. Memory used is 128 * n * r bytes. */
  readonly n: number;
  readonly r: number;
  readonly p: number;
}

/** 16 MiB of memory; about 50 ms on an x86 core, expect a few hundred ms on a Raspberry Pi. Once per salt. */
export const DEFAULT_SCRYPT: ScryptParams = Object.freeze({ n: 2 ** 14, r: 8, p: 1 });

/** Bounds on parameters read from a file: a tampered header must not make the agent allocate gigabytes. */
const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024;
export const MIN_KEY_LENGTH = 16;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KCV_BYTES = 16;
const KCV_LABEL = 'kiosk_cache key check';

export interface DecodedCache {
  /** MSAL's serialized cache. */
  readonly plaintext: string;
  /** False for a plain JSON file (which a keyed store migrates). */
  readonly encrypted: boolean;
}

interface Envelope {
  kiosk_cache: number;
  alg: 'A256GCM';
  kdf: 'scrypt';
  n: number;
  r: number;
  p: number;
  salt: string;
  iv: string;
  tag: string;
  data: string;
  kcv: string;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function base64(value: unknown, bytes?: number): Buffer {
  if (typeof value !== 'string' || value.length % 4 !== 0 || !BASE64.test(value)) throw new CacheCorruptError('bad_envelope');
  const buf = Buffer.from(value, 'base64');
  if (bytes !== undefined && buf.length !== bytes) throw new CacheCorruptError('bad_envelope');
  return buf;
}

function scryptParams(env: Record<string, unknown>): ScryptParams {
  const { n, r, p } = env;
  if (typeof n !== 'number' || typeof r !== 'number' || typeof p !== 'number') throw new CacheCorruptError('bad_envelope');
  const ok =
    Number.isInteger(n) && n >= 2 && (n & (n - 1)) === 0 &&
    Number.isInteger(r) && r >= 1 && r <= 32 &&
    Number.isInteger(p) && p >= 1 && p <= 16 &&
    128 * n * r <= MAX_SCRYPT_MEMORY;
  if (!ok) throw new CacheCorruptError('bad_envelope');
  return { n, r, p };
}

/** The key check value: proves a key is the file's without decrypting anything. */
const keyCheck = (key: Buffer): Buffer => crypto.createHmac('sha256', key).update(KCV_LABEL).digest().subarray(0, KCV_BYTES);

/** The authenticated header: every field that selects how the ciphertext is read. */
const aad = (version: number, params: ScryptParams, salt: string): Buffer =>
  Buffer.from(`kiosk_cache=${version};alg=A256GCM;kdf=scrypt;n=${params.n};r=${params.r};p=${params.p};salt=${salt}`);

/**
 * Encodes and decodes the cache file. One instance per store: it keeps the keys it derived (one
 * scrypt per salt, not per write), and writes reuse the salt of the file it read, so a process
 * normally derives a key once.
 */
export class CacheCodec {
  readonly #passphrase: string | undefined;
  readonly #params: ScryptParams;
  /** Derived keys by salt and parameters; small, a process sees one or two salts. */
  readonly #keys = new Map<string, Promise<Buffer>>();
  #writeSalt: { salt: Buffer; params: ScryptParams } | undefined;

  constructor(passphrase?: string, params: ScryptParams = DEFAULT_SCRYPT) {
    if (passphrase !== undefined && passphrase.length < MIN_KEY_LENGTH)
      throw new RangeError(`KIOSK_CACHE_KEY must have at least ${MIN_KEY_LENGTH} characters`);
    this.#passphrase = passphrase;
    this.#params = params;
  }

  /** True when files are written encrypted. */
  get encrypts(): boolean {
    return this.#passphrase !== undefined;
  }

  /** The bytes to store for `plaintext` (MSAL's serialized cache; its shape is checked). */
  async encode(plaintext: string): Promise<Buffer> {
    assertCacheShape(parseCacheJson(plaintext));
    if (this.#passphrase === undefined) return Buffer.from(plaintext, 'utf8');
    this.#writeSalt ??= { salt: crypto.randomBytes(SALT_BYTES), params: this.#params };
    const { salt, params } = this.#writeSalt;
    const saltText = salt.toString('base64');
    const key = await this.#derive(this.#passphrase, salt, params);
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(ENVELOPE_VERSION, params, saltText));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const envelope: Envelope = {
      kiosk_cache: ENVELOPE_VERSION,
      alg: 'A256GCM',
      kdf: 'scrypt',
      n: params.n,
      r: params.r,
      p: params.p,
      salt: saltText,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
      kcv: keyCheck(key).toString('base64'),
    };
    return Buffer.from(`${JSON.stringify(envelope)}\n`, 'utf8');
  }

  /** The plaintext cache in `bytes`, or a `CacheCorruptError` saying why there is none. */
  async decode(bytes: Uint8Array): Promise<DecodedCache> {
    const text = Buffer.from(bytes).toString('utf8');
    const value = parseCacheJson(text);
    if (!isObject(value) || !('kiosk_cache' in value)) {
      assertCacheShape(value);
      return { plaintext: text, encrypted: false };
    }
    if (value.kiosk_cache !== ENVELOPE_VERSION) throw new CacheCorruptError('unsupported_version');
    if (value.alg !== 'A256GCM' || value.kdf !== 'scrypt') throw new CacheCorruptError('unsupported_version');
    const params = scryptParams(value);
    const salt = base64(value.salt, SALT_BYTES);
    const iv = base64(value.iv, IV_BYTES);
    const tag = base64(value.tag, TAG_BYTES);
    const data = base64(value.data);
    const kcv = value.kcv === undefined ? undefined : base64(value.kcv, KCV_BYTES);
    if (this.#passphrase === undefined) throw new CacheCorruptError('no_key');

    const key = await this.#derive(this.#passphrase, salt, params);
    if (kcv !== undefined && !crypto.timingSafeEqual(kcv, keyCheck(key))) throw new CacheCorruptError('key_mismatch');
    let plaintext: string;
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(ENVELOPE_VERSION, params, value.salt as string));
      decipher.setAuthTag(tag);
      plaintext = Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
    } catch {
      throw new CacheCorruptError(kcv === undefined ? 'key_mismatch' : 'auth_failed');
    }
    // Authentic, so written by us: a bad shape here is a bug, still not worth a crash.
    assertCacheShape(parseCacheJson(plaintext));
    // Keep writing under this salt: its key is derived already.
    this.#writeSalt = { salt, params };
    return { plaintext, encrypted: true };
  }

  #derive(passphrase: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
    const id = `${params.n}:${params.r}:${params.p}:${salt.toString('base64')}`;
    let key = this.#keys.get(id);
    if (key === undefined) {
      key = new Promise<Buffer>((resolve, reject) => {
        const options = { N: params.n, r: params.r, p: params.p, maxmem: 2 * 128 * params.n * params.r + 1024 * 1024 };
        crypto.scrypt(passphrase.normalize('NFC'), salt, 32, options, (err, derived) => (err ? reject(err) : resolve(derived)));
      });
      if (this.#keys.size >= 4) this.#keys.clear();
      this.#keys.set(id, key);
      key.catch(() => this.#keys.delete(id));
    }
    return key;
  }
}
