import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import { Auth } from '../src/auth/auth.js';
import { CACHE_SECTIONS, CacheCodec, CacheCorruptError, DEFAULT_SCRYPT, assertCacheShape } from '../src/auth/cache-file.js';
import type { CacheCorruptCode, ScryptParams } from '../src/auth/cache-file.js';
import { CacheStore } from '../src/auth/cache-store.js';
import { systemClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { checkProperty, invalidUtf8, mutate, mutationArb, newTally, summaryLine } from './helpers/fuzz.js';

/**
 * The token cache at rest under arbitrary bytes (CONTRACT §3 KIOSK_CACHE_PATH, KIOSK_CACHE_KEY): random
 * files, truncations and bit flips of valid plain and encrypted caches. `CacheCodec.decode` returns a
 * well-shaped cache or throws CacheCorruptError, nothing else, and a tampered encrypted file never
 * yields a different cache. `CacheStore.load` never throws: it returns the cache, or keeps a file that is
 * encrypted under another key (or needs one) where it is, untouched, or moves any other unusable file
 * aside byte for byte; either way it starts without one. What it returns, MSAL (through `Auth`) can read.
 */

const tally = newTally();
const started = performance.now();
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const KEY = 'correct horse battery staple 42';
const OTHER_KEY = 'a different passphrase of length';
/** Cheap scrypt so that thousands of encrypted cases run in seconds; a handful use the default below. */
const SMALL: ScryptParams = { n: 16, r: 1, p: 1 };
const CODES = new Set<CacheCorruptCode>(['empty', 'not_json', 'not_cache', 'bad_envelope', 'unsupported_version', 'auth_failed', 'key_mismatch', 'no_key']);
const REASONS = new Set(['empty file', 'not JSON', 'not an MSAL token cache', 'malformed encrypted envelope', 'unsupported envelope version or algorithm', 'damaged or tampered',
  'encrypted with another KIOSK_CACHE_KEY', 'encrypted but KIOSK_CACHE_KEY is not set']);

const root = await fsp.mkdtemp(join(tmpdir(), 'kiosk-fuzz-cache-'));
after(() => fsp.rm(root, { recursive: true, force: true }));

const MSAL_CACHE = JSON.stringify(JSON.parse(await fsp.readFile(join(FIXTURES, 'cache-msal.json'), 'utf8')));
const PRETTY_CACHE = JSON.stringify(JSON.parse(MSAL_CACHE), null, 2);
const MINIMAL_CACHE = JSON.stringify({ Account: {}, IdToken: {}, AccessToken: {}, RefreshToken: {}, AppMetadata: {} });
const PLAINTEXTS = [MSAL_CACHE, PRETTY_CACHE, MINIMAL_CACHE];

/** Valid files to mutate: plain caches, and caches encrypted with cheap and with default scrypt. */
const SEEDS = {
  plain: PLAINTEXTS.map((p) => Buffer.from(p)),
  encrypted: await Promise.all(PLAINTEXTS.map((p) => new CacheCodec(KEY, SMALL).encode(p))),
  defaultCost: await new CacheCodec(KEY).encode(MSAL_CACHE),
};

/** JSON values an MSAL cache's fields could be replaced with. */
const jsonLeaf = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.constant(null), fc.boolean(), fc.constantFrom([], {}, ['x'], { a: {} }));

/** Envelopes with any header field replaced: versions, algorithms, scrypt costs (bounded to cheap ones when valid), base64. */
const envelopeArb: Arbitrary<Buffer> = fc
  .record(
    {
      seed: fc.constantFrom(...SEEDS.encrypted),
      field: fc.constantFrom('kiosk_cache', 'alg', 'kdf', 'n', 'r', 'p', 'salt', 'iv', 'tag', 'data', 'kcv', 'extra'),
      value: fc.oneof(
        jsonLeaf,
        fc.constantFrom(0, 1, 2, 4, 1000, 1024, -16, 2 ** 30, 2 ** 53, 1.5, 33, 17, '16', 'A256GCM', 'scrypt', '', '====', 'AAAA', '!!!!', 'AAAAAAAAAAAAAAAAAAAAAA==', 'AAAAAAAAAAAAAAAA'),
      ),
      drop: fc.boolean(),
    },
  )
  .map(({ seed, field, value, drop }) => {
    const env = JSON.parse(seed.toString('utf8')) as Record<string, unknown>;
    if (drop) delete env[field];
    else env[field] = value;
    return Buffer.from(JSON.stringify(env));
  });

/** MSAL-cache-shaped JSON with arbitrary sections and entries: what assertCacheShape sees past the parser. */
const cacheShapedArb: Arbitrary<Buffer> = fc
  .dictionary(
    fc.oneof(fc.constantFrom(...CACHE_SECTIONS), fc.string({ maxLength: 8 })),
    fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), jsonLeaf, { maxKeys: 4 }), jsonLeaf), { maxKeys: 3 }), jsonLeaf),
    { maxKeys: 6 },
  )
  .map((o) => Buffer.from(JSON.stringify(o)));

/** Every kind of file content the codec must survive. */
const fileArb: Arbitrary<{ bytes: Buffer; origin: 'plain' | 'encrypted' | 'other' }> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...SEEDS.plain), fc.array(mutationArb, { minLength: 1, maxLength: 4 })).map(([s, m]) => ({ bytes: mutate(s, m), origin: 'plain' as const })) },
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...SEEDS.encrypted), fc.array(mutationArb, { minLength: 1, maxLength: 4 })).map(([s, m]) => ({ bytes: mutate(s, m), origin: 'encrypted' as const })) },
  { weight: 2, arbitrary: envelopeArb.map((bytes) => ({ bytes, origin: 'encrypted' as const })) },
  { weight: 2, arbitrary: cacheShapedArb.map((bytes) => ({ bytes, origin: 'other' as const })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((b) => ({ bytes: Buffer.from(b), origin: 'other' as const })) },
  { weight: 1, arbitrary: invalidUtf8().map((b) => ({ bytes: Buffer.from(b), origin: 'other' as const })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => ({ bytes: Buffer.from(JSON.stringify(v) ?? ''), origin: 'other' as const })) },
  { weight: 1, arbitrary: fc.constantFrom(...SEEDS.plain, ...SEEDS.encrypted).map((b) => ({ bytes: b, origin: 'other' as const })) },
);

const keyArb = fc.constantFrom<string | undefined>(KEY, KEY, OTHER_KEY, undefined);

/** The codec's contract for one input; returns whether it was refused. */
async function judgeDecode(codec: CacheCodec, bytes: Buffer, key: string | undefined, origin: string): Promise<boolean> {
  tally.cases += 1;
  try {
    const decoded = await codec.decode(bytes);
    assert.doesNotThrow(() => assertCacheShape(JSON.parse(decoded.plaintext)), 'a decoded cache has MSAL’s shape');
    if (decoded.encrypted) {
      assert.equal(key, KEY, 'only the right key opens an encrypted cache');
      // AES-GCM with the header as additional data: tampering never yields another cache.
      assert.ok(PLAINTEXTS.includes(decoded.plaintext), 'an encrypted file decodes only to what was encrypted');
    } else {
      assert.equal(decoded.plaintext, bytes.toString('utf8'), 'a plain cache is returned as it is');
    }
    return false;
  } catch (e) {
    assert.ok(e instanceof CacheCorruptError, `only CacheCorruptError may be thrown (${origin}), got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    assert.ok(CODES.has(e.code), `known code ${e.code}`);
    assert.ok(REASONS.has(e.reason) && e.message === `token cache unusable: ${e.reason}`, 'a fixed reason that carries no file content');
    tally.rejections += 1;
    return true;
  }
}

test('CacheCodec.decode: arbitrary bytes, truncations and bit flips give a valid cache or CacheCorruptError', { timeout: 120_000 }, async () => {
  const codecs = new Map<string | undefined, CacheCodec>([[KEY, new CacheCodec(KEY, SMALL)], [OTHER_KEY, new CacheCodec(OTHER_KEY, SMALL)], [undefined, new CacheCodec(undefined, SMALL)]]);
  await checkProperty(
    'cache decode',
    fc.asyncProperty(fileArb, keyArb, async ({ bytes, origin }, key) => {
      await judgeDecode(codecs.get(key)!, bytes, key, origin);
    }),
    { seed: 0x63616368, numRuns: 4_000, tally },
  );
});

test('CacheCodec.decode with the default scrypt cost (a handful of cases)', { timeout: 60_000 }, async () => {
  const codec = new CacheCodec(KEY);
  assert.equal(JSON.parse(SEEDS.defaultCost.toString('utf8')).n, DEFAULT_SCRYPT.n);
  await checkProperty(
    'cache decode default cost',
    fc.asyncProperty(fc.array(mutationArb, { maxLength: 2 }), async (mutations) => {
      await judgeDecode(codec, mutate(SEEDS.defaultCost, mutations), KEY, 'default cost');
    }),
    { seed: 0x64656661, numRuns: 12, tally },
  );
});

/** What can sit at KIOSK_CACHE_PATH besides a file. */
type Entry = { kind: 'file'; bytes: Buffer } | { kind: 'none' } | { kind: 'directory' } | { kind: 'dangling-link' } | { kind: 'link-loop' };
const entryArb: Arbitrary<Entry> = fc.oneof(
  { weight: 20, arbitrary: fileArb.map(({ bytes }): Entry => ({ kind: 'file', bytes })) },
  { weight: 1, arbitrary: fc.constantFrom<Entry>({ kind: 'none' }, { kind: 'directory' }, { kind: 'dangling-link' }, { kind: 'link-loop' }) },
);

const quiet = createLogger('silent');
let caseNo = 0;

test('CacheStore.load never throws: the cache, or the file kept (another key) or moved aside intact, and no cache', { timeout: 120_000 }, async () => {
  await checkProperty(
    'cache store load',
    fc.asyncProperty(entryArb, fc.constantFrom<string | undefined>(KEY, OTHER_KEY, undefined, undefined), async (entry, key) => {
      tally.cases += 1;
      const dir = join(root, `store-${(caseNo += 1)}`);
      await fsp.mkdir(dir);
      const path = join(dir, 'token-cache.json');
      if (entry.kind === 'file') await fsp.writeFile(path, entry.bytes);
      else if (entry.kind === 'directory') await fsp.mkdir(path);
      else if (entry.kind === 'dangling-link') await fsp.symlink(join(dir, 'missing'), path);
      else if (entry.kind === 'link-loop') await fsp.symlink(path, path);
      const store = new CacheStore({ path, key, log: quiet });
      const plaintext = await store.load(); // must not reject
      await store.flush();
      const names = await fsp.readdir(dir);
      assert.ok(!names.some((n) => n.endsWith('.tmp')), 'no temp file left behind');
      const moved = names.filter((n) => n.startsWith('token-cache.json.corrupt-'));
      if (plaintext !== undefined) {
        assert.doesNotThrow(() => assertCacheShape(JSON.parse(plaintext)), 'the cache has MSAL’s shape');
        assert.equal(await store.current(), plaintext);
        assert.equal(moved.length, 0, 'a usable cache is not moved');
        // Kept, or re-written encrypted when a key is set: either way it reads back the same.
        const again = await new CacheStore({ path, key, log: quiet }).load();
        assert.equal(again, plaintext, 'the file on disk reads back as the same cache');
        return;
      }
      if (entry.kind === 'none' || entry.kind === 'dangling-link') {
        assert.equal(moved.length, 0, 'nothing to move aside');
        return;
      }
      tally.rejections += 1;
      if (store.locked !== undefined) {
        // Encrypted, well-formed, not this key's: kept as it was, for the right key to read.
        assert.ok(entry.kind === 'file', 'only a file can be locked');
        assert.ok(key !== KEY || store.locked === 'key_mismatch', 'with the right key, only a changed salt, cost or key check locks');
        assert.equal(moved.length, 0, 'a locked cache is not moved');
        assert.deepEqual(await fsp.readFile(path), entry.bytes, 'a locked cache stays byte for byte');
        await fsp.rm(dir, { recursive: true, force: true });
        return;
      }
      assert.equal(moved.length, 1, `an unusable cache is moved aside (dir holds ${names.join(', ')})`);
      assert.ok(!names.includes('token-cache.json'), 'and is gone from KIOSK_CACHE_PATH');
      if (entry.kind === 'file') assert.deepEqual(await fsp.readFile(join(dir, moved[0]!)), entry.bytes, 'moved byte for byte');
      await fsp.rm(dir, { recursive: true, force: true });
    }),
    { seed: 0x73746f72, numRuns: 800, tally },
  );
});

/** The fixture's authority (its environment is 127.0.0.1:1, where nothing answers) and its discovery document. */
const AUTHORITY = 'https://127.0.0.1:1/11111111-1111-1111-1111-111111111111/';
const DISCOVERY = {
  issuer: `${AUTHORITY}v2.0`,
  token_endpoint: `${AUTHORITY}oauth2/v2.0/token`,
  device_authorization_endpoint: `${AUTHORITY}oauth2/v2.0/devicecode`,
  authorization_endpoint: `${AUTHORITY}oauth2/v2.0/authorize`,
  end_session_endpoint: `${AUTHORITY}oauth2/v2.0/logout`,
  jwks_uri: `${AUTHORITY}discovery/v2.0/keys`,
};

/** The fixture with fields dropped or replaced by other JSON types: shaped like a cache, odd inside. */
const oddCacheArb: Arbitrary<string> = fc
  .array(
    fc.record({ section: fc.constantFrom(...CACHE_SECTIONS), field: fc.constantFrom('home_account_id', 'environment', 'realm', 'local_account_id', 'username', 'authority_type', 'credential_type', 'client_id', 'secret', 'target', 'expires_on', 'cached_at', 'extended_expires_on', 'name', 'client_info', 'family_id'), value: fc.option(jsonLeaf) }),
    { minLength: 1, maxLength: 6 },
  )
  .map((edits) => {
    const cache = JSON.parse(MSAL_CACHE) as Record<string, Record<string, Record<string, unknown>>>;
    for (const { section, field, value } of edits) {
      for (const entry of Object.values(cache[section] ?? {})) {
        if (value === null) delete entry[field];
        else entry[field] = value;
      }
    }
    return JSON.stringify(cache);
  });

test('Auth over odd but well-shaped caches: cachedAccount and silent resolve, never throw', { timeout: 60_000 }, async () => {
  const controller = new AbortController();
  after(() => controller.abort());
  await checkProperty(
    'cache through MSAL',
    fc.asyncProperty(fc.oneof(oddCacheArb, cacheShapedArb.map((b) => b.toString('utf8'))), fc.boolean(), async (text, force) => {
      tally.cases += 1;
      const dir = join(root, `auth-${(caseNo += 1)}`);
      await fsp.mkdir(dir);
      await fsp.writeFile(join(dir, 'token-cache.json'), text);
      // The provider's saved discovery document: MSAL gets past authority resolution offline and reads the cache.
      await fsp.writeFile(join(dir, 'provider-metadata.json'), JSON.stringify({ [`${AUTHORITY}v2.0/.well-known/openid-configuration`]: DISCOVERY }));
      // An authority nobody answers on: whatever MSAL makes of the cache, the outcome is decided locally or by a refused connection.
      const config = loadConfig({
        env: { KIOSK_CLIENT_ID: '22222222-2222-2222-2222-222222222222', KIOSK_AUTHORITY: AUTHORITY, KIOSK_DEVICE_ID: 'k1', KIOSK_CACHE_PATH: join(dir, 'token-cache.json'), KIOSK_HTTP_TIMEOUT: '2' },
      }).config;
      const auth = new Auth({ config, log: quiet, clock: systemClock, signal: controller.signal });
      await auth.start();
      const cached = await auth.cachedAccount();
      // A cache file nobody's provider signed never names an account: only a verified ID token does.
      assert.equal(cached?.account, undefined, 'an unverified cached account is never named');
      const attempt = await auth.silent(force);
      assert.ok(['ok', 'expired', 'declined', 'cancelled', 'interaction_required', 'network', 'fatal'].includes(attempt.kind), `an outcome, got ${JSON.stringify(attempt)}`);
      if (attempt.kind !== 'ok') tally.rejections += 1;
      await auth.flush();
      await fsp.rm(dir, { recursive: true, force: true });
    }),
    { seed: 0x6d73616c, numRuns: 300, tally },
  );
});

test('summary', (t) => {
  const line = summaryLine('cache', tally, performance.now() - started);
  t.diagnostic(line);
  assert.equal(tally.crashes, 0);
});
