import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import { DISPLAY_NAMES, SECRET_SETTINGS, SETTINGS, loadConfig } from '../src/config.js';
import type { Config, LoadedConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { normalizeResource } from '../src/resources.js';
import { checkProperty, hostileString, newTally, repeated, summaryLine } from './helpers/fuzz.js';

/**
 * Configuration under arbitrary input (CONTRACT §3, §5): every environment map and every `--config` file
 * either loads into a deeply frozen config, or is refused with a ConfigError (exit 78) whose every
 * problem is one line that starts with the setting (`KIOSK_…:`) or `--config:` and says how to fix it.
 * Nothing else may be thrown, and no problem may repeat a secret.
 */

const tally = newTally();
const started = performance.now();
const dir = mkdtempSync(join(tmpdir(), 'kiosk-fuzz-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'a-directory'));
writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
/**
 * Files a setting must never be read from (CONTRACT §3: regular files of at most 64 KiB): endless devices, a FIFO
 * with no writer (a read would block start-up), a directory, files too large; links to them count the same.
 */
execFileSync('mkfifo', [join(dir, 'a-fifo')]);
writeFileSync(join(dir, 'ten-megabytes'), Buffer.alloc(10 * 1024 * 1024, 0x61));
writeFileSync(join(dir, 'one-byte-too-many'), Buffer.alloc(64 * 1024 + 1, 0x61));
symlinkSync('/dev/zero', join(dir, 'link-to-zero'));
const UNREADABLE_TARGETS = ['/dev/zero', '/dev/urandom', '/dev/null', join(dir, 'a-fifo'), join(dir, 'a-directory'), join(dir, 'ten-megabytes'), join(dir, 'one-byte-too-many'), join(dir, 'link-to-zero')];
writeFileSync(join(dir, 'just-64-kib'), Buffer.alloc(64 * 1024, 0x61));
symlinkSync(join(dir, 'ca.pem'), join(dir, 'link-to-pem'));

const NAMES = Object.keys(SETTINGS);
const PROBLEM = /^(KIOSK_\w+|TZ(_FILE)?|--config): \S/;
/** What a problem says after its name: a fix, an example, a rule or an allowed set. */
const ADVICE = /;|must|use |set |e\.g\.|not (a|an|true|one) |one of|at least|is required/;

/** Valid values and near misses for each setting; anything else comes from `hostileString`. */
const EXAMPLES: Record<string, readonly string[]> = {
  KIOSK_CLIENT_ID: ['kiosk-test-client', '22222222-2222-2222-2222-222222222222', 'a b', 'client"id', 'x;rm'],
  KIOSK_AUTHORITY: ['https://contoso.ciamlogin.com/', 'https://127.0.0.1:8443/tenant', 'https://login.microsoftonline.com/common/', 'http://contoso.ciamlogin.com/',
    'https://x/?q=1', 'https://x/#f', 'contoso.ciamlogin.com', 'https://user:hunter2-secret@contoso.example/', 'ftp://x'],
  KIOSK_SCOPES: ['openid profile offline_access', 'api://app/.default', 'openid "quoted"', '   '],
  KIOSK_KNOWN_AUTHORITIES: ['https://a.ciamlogin.com https://b.example', 'http://insecure', 'https://a.example/path?x', 'not-a-url'],
  KIOSK_DEVICE_ID: ['kiosk-1', 'K_2', repeated('a', 64), repeated('a', 65), 'a b', 'a/b', 'a+b', 'é'],
  KIOSK_MQTT_URL: ['mqtt://localhost:1883', 'mqtts://broker:8883', 'ws://h/mqtt', 'wss://h/mqtt', 'http://u:hunter2-secret@h', 'tcp://h', 'localhost:1883', 'mqtt://'],
  KIOSK_MQTT_PREFIX: ['kiosk', 'site/a', 'a/+', '#', '/a', 'a//b', 'a b', 'a/'],
  KIOSK_REFRESH_CRON: ['*/15 * * * *', '0 */6 * * *', '0 0 * * * *', '@hourly', '61 * * * *', '* * *', '1-99999999 * * * *', '* * 1-999999 * *',
    '0-59/100000000 * * * *', `${Array(2_000).fill('0-59').join(',')} * * * *`, '*/0 * * * *'],
  KIOSK_DISPLAY: ['terminal', 'web,framebuffer', 'terminal, web', 'terminal,terminal', 'tv', ',,,', 'web,,tv'],
  KIOSK_FRAMEBUFFER: ['/dev/fb0', '/dev/fb1', join(dir, 'fb.raw')],
  KIOSK_FRAMEBUFFER_GEOMETRY: ['800x480x32', '1920x1080x16', '99999x99999x24', '800x480', '0x0x32', '800x480x8', '800X480X32'],
  KIOSK_WEB_HOST: ['127.0.0.1', '0.0.0.0', '::1', 'kiosk.local'],
  KIOSK_WEB_PORT: ['0', '8080', '65535', '65536', '-1', '1e3', '080', '8080.0', '99999999999999999999999'],
  KIOSK_CACHE_PATH: ['/data/token-cache.json', 'relative/cache.json', join(dir, 'cache.json'), '.'],
  KIOSK_CACHE_KEY: ['correct horse battery staple 42', 'short', repeated('k', 15), repeated('k', 16)],
  KIOSK_CLAIMS: ['name oid', 'name preferred_username email oid tid', 'na"me', 'a,b'],
  KIOSK_HA_DISCOVERY: ['true', 'false', 'YES', 'on', '0', '1', 'maybe', 'truee'],
  KIOSK_HA_PREFIX: ['homeassistant', 'ha/x', 'ha/#', ''],
  KIOSK_LOG_LEVEL: ['info', 'debug', 'silent', 'trace', 'verbose', 'INFO', 'warning'],
  KIOSK_TERMINAL: ['-', '/dev/tty1'],
  KIOSK_EXTRA_QUERY_PARAMETERS: ['dc=ESTS-PUB-WUS2-AZ1-FD000-TEST1', 'a=1&b=2', '=x', 'a=', '&&', 'a', 'a=%zz'],
  KIOSK_STATE_DIR: ['/run/kiosk', 'state', join(dir, 'state')],
  KIOSK_HTTP_TIMEOUT: ['1', '10', '300', '0', '301', '1.5', 'abc', '-5'],
  KIOSK_MQTT_CA: [join(dir, 'ca.pem'), join(dir, 'link-to-pem'), join(dir, 'missing.pem'), join(dir, 'a-directory'), 'relative.pem', 'nul\0byte.pem', '/dev/zero', join(dir, 'a-fifo')],
  KIOSK_MQTT_CERT: [join(dir, 'ca.pem'), join(dir, 'missing.pem')],
  KIOSK_MQTT_KEY: [join(dir, 'ca.pem'), join(dir, 'missing.pem')],
  KIOSK_VERIFICATION_URI: ['auto', 'https://contoso.ciamlogin.com/common/oauth2/deviceauth', 'http://sign-in.example/', 'AUTO', 'javascript:alert(1)', '/relative'],
  KIOSK_DEVICE_NAME: ['Lobby screen', repeated('n', 64), repeated('n', 65), 'two\nlines', 'tab\there', 'Café ☕'],
  KIOSK_LOCATION: ['Reception, floor 2', repeated('l', 100), repeated('l', 101), '\u2028', 'bell\u0007'],
  KIOSK_CODE_LIFETIME: ['60', '120', '86400', '59', '86401', '90.5', 'forever'],
  KIOSK_SIGN_IN: ['auto', 'on_request', 'on-request', 'never'],
  KIOSK_TOKEN_LISTEN: ['off', '8079', '127.0.0.1:0', '[::1]:8079', '0.0.0.0:8079', 'localhost:8079', 'kiosk.lan:8079', '70000', ':8079', '[zz]:1', 'on'],
  KIOSK_TOKEN_RESOURCES: ['api://kiosk-api', 'api://kiosk-api/ https://graph.microsoft.com/.default', 'http://plain.example', 'api://', 'https://x/?q', repeated('api://a', 100)],
  KIOSK_TOKEN_SECRET: [repeated('s', 16), repeated('s', 15), 'has a space in it', repeated('s', 513), 'correct-horse-battery-staple'],
  KIOSK_SIGN_OUT_CRON: ['0 18 * * 1-5', '*/5 * * * * *', 'at six', '1-99999999 * * * *', '* * *'],
  KIOSK_REMEMBER: ['true', 'false', 'no', 'forget'],
  KIOSK_WEB_SIGN_OUT: ['true', 'false', 'sure'],
  KIOSK_WEB_ALLOWED_HOSTS: ['kiosk.local', 'kiosk.local, 192.168.1.20', '[::1] fe80::1', 'http://x', 'x:8080', 'a..b', '*.example', repeated('a', 300)],
  TZ: ['UTC', 'Europe/Berlin', 'america/new_york', 'Mars/Olympus', ':/etc/localtime', 'CET-1CEST', 'GMT+1'],
  KIOSK_TOUCH: [join(dir, 'event0')],
  KIOSK_TOUCH_RANGE: ['800x480', '4096x4096', '0x0', '4096', '99999x1'],
};

const valueOf = (name: string): Arbitrary<string> =>
  fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...(EXAMPLES[name] ?? ['x'])) }, { weight: 2, arbitrary: hostileString() });

/** How a setting reaches the agent: not at all, directly, through `NAME_FILE`, or both (a conflict). */
type Source =
  | { kind: 'env'; value: string }
  | { kind: 'file'; content: string; trailer: string }
  | { kind: 'file-path'; path: string }
  | { kind: 'both'; value: string; content: string };

const sourceOf = (name: string): Arbitrary<Source> =>
  fc.oneof(
    { weight: 8, arbitrary: valueOf(name).map((value): Source => ({ kind: 'env', value })) },
    { weight: 2, arbitrary: fc.tuple(valueOf(name), fc.constantFrom('', '\n', '\r\n', '\n\n', ' \n')).map(([content, trailer]): Source => ({ kind: 'file', content, trailer })) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(join(dir, 'missing-secret'), '', 'nul\0path', join(dir, 'missing', 'deeper'), repeated('/x', 5_000), join(dir, 'just-64-kib'), ...UNREADABLE_TARGETS)
        .map((path): Source => ({ kind: 'file-path', path })),
    },
    { weight: 1, arbitrary: fc.tuple(valueOf(name), valueOf(name)).map(([value, content]): Source => ({ kind: 'both', value, content })) },
  );

const settingsArb = fc.record(Object.fromEntries(NAMES.map((n) => [n, sourceOf(n)])) as Record<string, Arbitrary<Source>>, { requiredKeys: [] });
/** Variables that are not settings: typos (warned about), other programs' variables, odd names. */
const strangersArb = fc.dictionary(
  fc.oneof(
    fc.constantFrom('KIOSK_CLIENTID', 'KIOSK_', 'KIOSK__FILE', 'KIOSK_FILE', 'PATH', 'HOME', 'kiosk_client_id'),
    fc.string({ maxLength: 12 }).map((s) => `KIOSK_${s}`),
    // Names that would forge a log line or steer a terminal if printed raw.
    fc.constantFrom('KIOSK_X\nkiosk-agent: invalid configuration: forged', 'KIOSK_\r\u001b[2K', 'KIOSK_\u001b]0;title\u0007', 'KIOSK_\u009b31m', 'KIOSK_\u2028X', 'KIOSK_\u202eX_FILE'),
    hostileString().map((s) => `KIOSK_${s}`),
  ),
  hostileString(),
  { maxKeys: 3 },
);

let fileCounter = 0;
/** The environment for `settings`, with the secret files written; `given` is every value handed over, by setting. */
function envOf(settings: Record<string, Source>, strangers: Record<string, string>): { env: Record<string, string>; given: Array<[string, string]> } {
  const env: Record<string, string> = { ...strangers };
  const given: Array<[string, string]> = Object.entries(strangers);
  for (const [name, source] of Object.entries(settings)) {
    if (source.kind === 'env' || source.kind === 'both') given.push([name, source.value]);
    if (source.kind === 'file' || source.kind === 'both') given.push([name, source.content]);
    const file = (): string => join(dir, `secret-${(fileCounter += 1)}`);
    switch (source.kind) {
      case 'env':
        env[name] = source.value;
        break;
      case 'file': {
        const path = file();
        writeFileSync(path, source.content + source.trailer);
        env[`${name}_FILE`] = path;
        break;
      }
      case 'file-path':
        env[`${name}_FILE`] = source.path;
        given.push([`${name}_FILE`, source.path]); // a path handed over, which a problem may quote
        break;
      case 'both': {
        const path = file();
        writeFileSync(path, source.content);
        env[name] = source.value;
        env[`${name}_FILE`] = path;
        break;
      }
    }
  }
  return { env, given };
}

/** Every object reachable from the config is frozen (CONTRACT §3: config is read once, frozen). */
function deeplyFrozen(o: unknown): boolean {
  if (typeof o !== 'object' || o === null) return true;
  return Object.isFrozen(o) && Object.values(o).every(deeplyFrozen);
}

function assertUsable(c: Config): void {
  assert.ok(/^https:\/\/.+\/$/.test(c.authority), `authority ${JSON.stringify(c.authority)} is an https URL ending in /`);
  assert.ok(/^[\w.:-]+$/.test(c.clientId), 'client id is well-formed');
  assert.ok(/^[A-Za-z0-9_-]{1,64}$/.test(c.deviceId), 'device id is a topic segment');
  assert.ok(['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(new URL(c.mqtt.url).protocol), 'MQTT URL scheme');
  assert.ok(Number.isInteger(c.web.port) && c.web.port >= 0 && c.web.port <= 65535, 'web port');
  assert.ok(Number.isInteger(c.httpTimeoutSeconds) && c.httpTimeoutSeconds >= 1 && c.httpTimeoutSeconds <= 300, 'HTTP timeout');
  assert.ok(c.displays.length > 0 && c.displays.every((d) => (DISPLAY_NAMES as readonly string[]).includes(d)), 'displays');
  assert.ok(c.scopes.length > 0 && c.claims.length > 0, 'scopes and claims');
  assert.ok(c.cacheKey === undefined || c.cacheKey.length >= 16, 'cache key length');
  const e = c.tokenEndpoint;
  if (e !== undefined) {
    assert.ok(Number.isInteger(e.port) && e.port >= 0 && e.port <= 65535 && e.host !== '', 'token endpoint address');
    assert.ok(e.resources.length > 0 && e.resources.every((r) => normalizeResource(r) === r), 'token endpoint resources, normalised');
    assert.ok(e.secret === undefined || /^[\x21-\x7e]{16,512}$/.test(e.secret), 'token endpoint secret');
  }
}

/** Secret values (and URL passwords) that a problem must not repeat, and the other values given (which may hold the same text). */
function secretsIn(given: ReadonlyArray<[string, unknown]>): { secrets: string[]; others: string[] } {
  const secrets: string[] = [];
  const others: string[] = [];
  for (const [name, value] of given) {
    const v = typeof value === 'string' ? value.trim() : (JSON.stringify(value) ?? '');
    if (SECRET_SETTINGS.has(name)) {
      if (v.length >= 8) secrets.push(v);
      continue;
    }
    const url = URL.canParse(v) ? new URL(v) : undefined;
    if (url !== undefined && url.password.length >= 8) {
      secrets.push(url.password);
      try {
        secrets.push(decodeURIComponent(url.password));
      } catch {
        // not percent-encoded text: the raw form is enough
      }
      url.password = '';
      others.push(url.href);
    } else {
      others.push(v);
    }
  }
  // A text given both as a secret and as another setting's value (a cache key that is also a file path)
  // may be quoted for that setting: no message can tell the two apart.
  return { secrets, others };
}

/**
 * What problems say whatever the values: with no settings, and with every setting set to a character no
 * fix quotes. Their examples (`e.g. https://contoso.ciamlogin.com/`) and allowed values (`one of auto,
 * on_request`) are no one's secret, even when a fuzzed secret happens to be the same text.
 */
const FIXED_TEXT = [{}, Object.fromEntries(NAMES.map((n) => [n, '\u0007']))]
  .map((env) => {
    try {
      loadConfig({ env });
    } catch (e) {
      if (e instanceof ConfigError) return e.problems.join('\n');
    }
    return '';
  })
  .join('\n');

/** The property itself: one call to loadConfig, judged. */
function judge(run: () => LoadedConfig, secrets: readonly string[], others: readonly string[]): void {
  tally.cases += 1;
  let loaded: LoadedConfig;
  const begun = performance.now();
  const elapsed = (): number => performance.now() - begun;
  try {
    loaded = run();
  } catch (e) {
    assert.ok(elapsed() < 1_000, `refused in ${elapsed().toFixed(0)} ms: loadConfig must not stall on any value`);
    assert.ok(e instanceof ConfigError, `only ConfigError may be thrown, got ${e instanceof Error ? `${e.name}: ${e.message.slice(0, 200)}` : String(e)}`);
    assert.equal(e.exitCode, 78);
    assert.ok(e.problems.length > 0, 'a ConfigError has problems');
    for (const p of e.problems) {
      assert.ok(PROBLEM.test(p), `problem starts with the setting or --config: ${JSON.stringify(p.slice(0, 200))}`);
      assert.ok(!/[\r\n\u2028\u2029]/.test(p), `problem is one line: ${JSON.stringify(p.slice(0, 200))}`);
      assert.ok(ADVICE.test(p), `problem says how to fix it: ${JSON.stringify(p.slice(0, 200))}`);
      assert.ok(p.length <= 1_000, `problem is short enough to read (${p.length} characters): ${JSON.stringify(p.slice(0, 200))}`);
      for (const s of secrets) {
        if (others.some((o) => o.includes(s))) continue; // the same text given as a non-secret value
        if (FIXED_TEXT.includes(s)) continue; // the same text as an example every such problem gives
        assert.ok(!p.includes(s), `problem repeats a secret: ${JSON.stringify(p.slice(0, 200))}`);
      }
    }
    assert.equal(e.message, e.problems.join('\n'));
    tally.rejections += 1;
    return;
  }
  assert.ok(elapsed() < 1_000, `loaded in ${elapsed().toFixed(0)} ms: loadConfig must not stall on any value`);
  assert.ok(Object.isFrozen(loaded) && deeplyFrozen(loaded.config) && Object.isFrozen(loaded.values), 'the result is deeply frozen');
  for (const w of loaded.warnings)
    assert.ok(!/[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u.test(w), `a warning is one line of plain text: ${JSON.stringify(w.slice(0, 120))}`);
  assertUsable(loaded.config);
}

test('environment maps: a frozen config or a ConfigError whose problems name the setting and a fix', { timeout: 120_000 }, async () => {
  await checkProperty(
    'config env',
    fc.property(settingsArb, strangersArb, (settings, strangers) => {
      const { env, given } = envOf(settings as Record<string, Source>, strangers);
      const { secrets, others } = secretsIn(given);
      judge(() => loadConfig({ env }), secrets, others);
    }),
    { seed: 0x6b696f73, numRuns: 1_500, tally },
  );
});

test('a minimal valid environment with one setting fuzzed at a time', { timeout: 60_000 }, async () => {
  const base = { KIOSK_CLIENT_ID: 'kiosk-test-client', KIOSK_AUTHORITY: 'https://contoso.ciamlogin.com/', KIOSK_DEVICE_ID: 'k1' };
  await checkProperty(
    'config one setting',
    fc.property(fc.constantFrom(...NAMES).chain((name) => fc.tuple(fc.constant(name), sourceOf(name))), ([name, source]) => {
      const { env, given } = envOf({ [name]: source }, {});
      const { secrets, others } = secretsIn(given);
      judge(() => loadConfig({ env: { ...base, ...env } }), secrets, others);
    }),
    { seed: 0x636f6e66, numRuns: 1_500, tally },
  );
});

/** Any JSON value, with setting names, typos and prototype names as keys. */
const keyArb = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 1, arbitrary: fc.constantFrom('KIOSK_CLIENTID', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '', ' ', 'kiosk_client_id') },
  { weight: 1, arbitrary: hostileString() },
);
const leafArb = fc.oneof(
  fc.constantFrom(...Object.values(EXAMPLES).flat()),
  hostileString(),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const valueArb = fc.oneof(
  { weight: 6, arbitrary: leafArb },
  { weight: 1, arbitrary: fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);
type FileCase = { kind: 'object'; entries: Array<[string, unknown]> } | { kind: 'raw'; text: string } | { kind: 'bytes'; bytes: Uint8Array } | { kind: 'path'; path: string };
const fileArb: Arbitrary<FileCase> = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.tuple(keyArb, valueArb), { maxLength: 12 }).map((entries): FileCase => ({ kind: 'object', entries })) },
  { weight: 2, arbitrary: fc.jsonValue().map((v): FileCase => ({ kind: 'raw', text: JSON.stringify(v) ?? 'null' })) },
  { weight: 1, arbitrary: fc.oneof(hostileString(), fc.constantFrom('', '{', '{"KIOSK_CLIENT_ID":', '\uFEFF{}', '{}garbage', '[]', 'null', '"x"', '1e999')).map((text): FileCase => ({ kind: 'raw', text })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }).map((bytes): FileCase => ({ kind: 'bytes', bytes })) },
  { weight: 1, arbitrary: fc.constantFrom(join(dir, 'missing.json'), '', 'nul\0.json', ...UNREADABLE_TARGETS).map((path): FileCase => ({ kind: 'path', path })) },
);

/** Object entries as JSON text, keeping duplicate and `__proto__` keys the way a file can hold them. */
const objectText = (entries: Array<[string, unknown]>): string => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`;

test('--config files: arbitrary JSON and bytes give a frozen config or a ConfigError', { timeout: 120_000 }, async () => {
  await checkProperty(
    'config file',
    fc.property(fileArb, fc.option(settingsArb, { freq: 3 }), (file, settings) => {
      const { env, given } = settings === null ? { env: {}, given: [] } : envOf(settings as Record<string, Source>, {});
      let path: string;
      const fromFile: Array<[string, unknown]> = [];
      if (file.kind === 'path') path = file.path;
      else {
        path = join(dir, `config-${(fileCounter += 1)}.json`);
        if (file.kind === 'bytes') writeFileSync(path, file.bytes);
        else writeFileSync(path, file.kind === 'raw' ? file.text : objectText(file.entries));
        if (file.kind === 'object') for (const [k, v] of file.entries) fromFile.push([k, Array.isArray(v) ? v.join(' ') : typeof v === 'string' ? v : String(v)]);
      }
      const { secrets, others } = secretsIn([...given, ...fromFile]);
      judge(() => loadConfig({ env, file: path }), secrets, others);
    }),
    { seed: 0x66696c65, numRuns: 1_500, tally },
  );
});

test('a NAME_FILE or --config that is not a small regular file is refused at once, naming the setting, never read', async () => {
  const base = { KIOSK_CLIENT_ID: 'kiosk-test-client', KIOSK_AUTHORITY: 'https://contoso.ciamlogin.com/', KIOSK_DEVICE_ID: 'k1' };
  await checkProperty(
    'config unreadable files',
    fc.property(fc.constantFrom(...NAMES, '--config'), fc.constantFrom(...UNREADABLE_TARGETS), (name, target) => {
      tally.cases += 1;
      const setting = name === '--config' ? '--config' : `${name}_FILE`;
      const begun = performance.now();
      const env = name === '--config' ? base : { ...base, [name]: undefined, [`${name}_FILE`]: target };
      assert.throws(() => loadConfig({ env: env as Record<string, string>, ...(name === '--config' ? { file: target } : {}) }), (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        const problem = e.problems.find((p) => p.startsWith(`${setting}: `));
        assert.ok(problem, `a problem names ${setting}: ${e.problems.join(' | ').slice(0, 300)}`);
        assert.match(problem, /\((not a regular file|larger than 64 KiB)\)/, 'and says why');
        return true;
      });
      assert.ok(performance.now() - begun < 1_000, 'refused at once, nothing read');
      tally.rejections += 1;
    }),
    { seed: 0x64657673, numRuns: 150, tally },
  );
  // The limit itself is allowed, through a link too.
  const loaded = loadConfig({ env: { ...base, KIOSK_SCOPES_FILE: join(dir, 'just-64-kib'), KIOSK_MQTT_CA: join(dir, 'link-to-pem') } as Record<string, string> });
  assert.equal(loaded.config.scopes.join('').length, 64 * 1024);
});

test('a JSON file key that only looks like a setting through Object.prototype is refused', () => {
  const path = join(dir, 'proto.json');
  for (const key of ['toString', 'constructor', 'hasOwnProperty', '__proto__']) {
    writeFileSync(path, `{"KIOSK_CLIENT_ID":"c","KIOSK_AUTHORITY":"https://contoso.ciamlogin.com/","KIOSK_DEVICE_ID":"k1",${JSON.stringify(key)}:"x"}`);
    assert.throws(() => loadConfig({ env: {}, file: path }), ConfigError, `unknown key ${key} fails fast`);
  }
});

test('summary', (t) => {
  const line = summaryLine('config', tally, performance.now() - started);
  t.diagnostic(line);
  assert.equal(tally.crashes, 0);
});
