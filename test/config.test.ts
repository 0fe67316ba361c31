import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { validate } from 'node-cron';
import { describeConfig, loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { DEFAULT_REFRESH_CRON } from '../src/settings.js';

const base = { KIOSK_CLIENT_ID: 'abc', KIOSK_AUTHORITY: 'https://contoso.ciamlogin.com' };

function problemsOf(env: Record<string, string>, file?: string): string[] {
  try {
    loadConfig({ env, file });
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.exitCode, 78);
    return [...e.problems];
  }
  return [];
}

test("the refresh cron's default, which the settings check takes without node-cron, is an expression node-cron accepts", () => {
  assert.equal(validate(DEFAULT_REFRESH_CRON), true);
  assert.equal(loadConfig({ env: { ...base, KIOSK_DEVICE_ID: 'k1' } }).config.refreshCron, DEFAULT_REFRESH_CRON);
  // Set to the same expression by hand, it is the same setting.
  assert.equal(loadConfig({ env: { ...base, KIOSK_DEVICE_ID: 'k1', KIOSK_REFRESH_CRON: ` ${DEFAULT_REFRESH_CRON} ` } }).config.refreshCron, DEFAULT_REFRESH_CRON);
  assert.match(problemsOf({ ...base, KIOSK_REFRESH_CRON: '*/15 * * *' }).join('\n'), /KIOSK_REFRESH_CRON: "\*\/15 \* \* \*" is not a cron expression/);
});

test('defaults follow CONTRACT §3 and the result is frozen', () => {
  const { config } = loadConfig({ env: { ...base, KIOSK_DEVICE_ID: 'k1' } });
  assert.equal(config.authority, 'https://contoso.ciamlogin.com/');
  assert.deepEqual(config.knownAuthorities, ['https://contoso.ciamlogin.com']);
  assert.deepEqual(config.scopes, ['openid', 'profile', 'offline_access']);
  assert.equal(config.mqtt.url, 'mqtt://localhost:1883');
  assert.equal(config.mqtt.prefix, 'kiosk');
  assert.equal(config.refreshCron, '*/15 * * * *');
  assert.deepEqual(config.displays, ['terminal']);
  assert.equal(config.cachePath, '/data/token-cache.json');
  assert.equal(config.stateDir, '/data');
  assert.deepEqual(config.claims, ['name', 'preferred_username', 'email', 'oid', 'tid']);
  assert.equal(config.web.port, 8080);
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.mqtt) && Object.isFrozen(config.scopes));
});

test('NAME_FILE reads secrets; a JSON file supplies settings; environment wins over the file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'password'), 's3cret\n');
  await writeFile(join(dir, 'kiosk.json'), JSON.stringify({ ...base, KIOSK_DISPLAY: ['terminal', 'web'], KIOSK_WEB_PORT: 9000, KIOSK_DEVICE_ID: 'from-file' }));
  const { config } = loadConfig({ env: { KIOSK_MQTT_PASSWORD_FILE: join(dir, 'password'), KIOSK_DEVICE_ID: 'from-env' }, file: join(dir, 'kiosk.json') });
  assert.equal(config.mqtt.password, 's3cret');
  assert.deepEqual(config.displays, ['terminal', 'web']);
  assert.equal(config.web.port, 9000);
  assert.equal(config.deviceId, 'from-env');
});

test('every invalid value is reported together, each naming its setting', () => {
  const problems = problemsOf({
    KIOSK_AUTHORITY: 'ftp://x',
    KIOSK_REFRESH_CRON: '61 * * * *',
    KIOSK_DISPLAY: 'tv',
    KIOSK_DEVICE_ID: 'a b',
    KIOSK_FRAMEBUFFER_GEOMETRY: '800x480',
    KIOSK_HA_DISCOVERY: 'maybe',
    KIOSK_LOG_LEVEL: 'loud',
    KIOSK_CACHE_KEY: 'short',
    KIOSK_MQTT_PREFIX: 'kiosk/#',
    KIOSK_EXTRA_QUERY_PARAMETERS: 'dc',
    KIOSK_KNOWN_AUTHORITIES: 'http://insecure',
  });
  for (const name of [
    'KIOSK_CLIENT_ID', 'KIOSK_AUTHORITY', 'KIOSK_REFRESH_CRON', 'KIOSK_DISPLAY', 'KIOSK_DEVICE_ID', 'KIOSK_FRAMEBUFFER_GEOMETRY',
    'KIOSK_HA_DISCOVERY', 'KIOSK_LOG_LEVEL', 'KIOSK_CACHE_KEY', 'KIOSK_MQTT_PREFIX', 'KIOSK_EXTRA_QUERY_PARAMETERS', 'KIOSK_KNOWN_AUTHORITIES',
  ]) {
    assert.ok(problems.some((p) => p.startsWith(`${name}: `)), `${name} is named in ${JSON.stringify(problems)}`);
  }
  for (const p of problems) assert.ok(!p.includes('\n'), 'one line each');
});

test('unknown keys in the JSON file fail; unknown KIOSK_ variables are warned about', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'bad.json'), JSON.stringify({ ...base, KIOSK_CLIENTID: 'typo' }));
  assert.match(problemsOf({}, join(dir, 'bad.json')).join('\n'), /^KIOSK_CLIENTID: unknown key/m);
  assert.match(problemsOf({}, join(dir, 'missing.json')).join('\n'), /^--config: cannot use/m);
  const { warnings } = loadConfig({ env: { ...base, KIOSK_CLIENTID: 'typo' } });
  assert.deepEqual(warnings, ['KIOSK_CLIENTID is not a kiosk-agent setting (a typo?); it is ignored']);
});

test('both NAME and NAME_FILE, or an unreadable NAME_FILE, are errors', () => {
  assert.match(problemsOf({ ...base, KIOSK_MQTT_PASSWORD: 'a', KIOSK_MQTT_PASSWORD_FILE: '/x' }).join(), /KIOSK_MQTT_PASSWORD: both/);
  assert.match(problemsOf({ KIOSK_AUTHORITY: base.KIOSK_AUTHORITY, KIOSK_CLIENT_ID_FILE: '/nonexistent/id' }).join(), /KIOSK_CLIENT_ID_FILE: cannot read \/nonexistent\/id/);
});

test('describeConfig masks secrets', () => {
  const { values } = loadConfig({ env: { ...base, KIOSK_MQTT_PASSWORD: 'pw', KIOSK_CACHE_KEY: 'k'.repeat(20) } });
  const shown = describeConfig(values);
  assert.equal(shown.KIOSK_MQTT_PASSWORD, '********');
  assert.equal(shown.KIOSK_CACHE_KEY, '********');
  assert.equal(shown.KIOSK_CLIENT_ID, 'abc');
});

test('the sign-in settings: the page, how the kiosk names itself, the code lifetime, when to sign in', () => {
  const { config } = loadConfig({ env: { ...base, KIOSK_DEVICE_ID: 'k1' } });
  assert.deepEqual([config.verificationUri, config.deviceName, config.location, config.codeLifetimeSeconds, config.signIn], ['auto', 'k1', undefined, undefined, 'auto']);
  const set = loadConfig({
    env: { ...base, KIOSK_DEVICE_ID: 'k1', KIOSK_VERIFICATION_URI: 'https://sign-in.contoso.example/device', KIOSK_DEVICE_NAME: 'Lobby screen', KIOSK_LOCATION: 'Reception, floor 2', KIOSK_CODE_LIFETIME: '120', KIOSK_SIGN_IN: 'on_request' },
  }).config;
  assert.deepEqual([set.verificationUri, set.deviceName, set.location, set.codeLifetimeSeconds, set.signIn], ['https://sign-in.contoso.example/device', 'Lobby screen', 'Reception, floor 2', 120, 'on_request']);
  const problems = problemsOf({
    ...base, KIOSK_VERIFICATION_URI: 'http://sign-in.example/', KIOSK_DEVICE_NAME: 'two\nlines', KIOSK_LOCATION: 'x'.repeat(101), KIOSK_CODE_LIFETIME: '30', KIOSK_SIGN_IN: 'sometimes',
  });
  for (const name of ['KIOSK_VERIFICATION_URI', 'KIOSK_DEVICE_NAME', 'KIOSK_LOCATION', 'KIOSK_CODE_LIFETIME', 'KIOSK_SIGN_IN'])
    assert.ok(problems.some((p) => p.startsWith(`${name}: `)), `${name} is named: ${problems.join(' | ')}`);
  assert.ok(problems.find((p) => p.startsWith('KIOSK_CODE_LIFETIME'))?.includes('60 to 86400'));
});

test('the token endpoint settings: off by default; [HOST:]PORT; resources from KIOSK_SCOPES or listed, normalised; a secret masked', () => {
  assert.equal(loadConfig({ env: base }).config.tokenEndpoint, undefined, 'KIOSK_TOKEN_LISTEN is off by default');
  const scopes = { KIOSK_SCOPES: 'openid profile offline_access api://kiosk-api/kiosk.read api://kiosk-api/kiosk.write' };
  const on = loadConfig({ env: { ...base, ...scopes, KIOSK_TOKEN_LISTEN: '8079' } });
  assert.deepEqual(on.config.tokenEndpoint, { host: '127.0.0.1', port: 8079, resources: ['api://kiosk-api'], secret: undefined });
  assert.equal(on.values.KIOSK_TOKEN_RESOURCES, 'api://kiosk-api', '`kiosk-agent config` shows the resources in force');
  for (const [listen, host, port] of [['127.0.0.1:0', '127.0.0.1', 0], ['[::1]:8079', '::1', 8079], ['0.0.0.0:8079', '0.0.0.0', 8079], ['localhost:65535', 'localhost', 65535]] as const) {
    const c = loadConfig({ env: { ...base, ...scopes, KIOSK_TOKEN_LISTEN: listen } }).config.tokenEndpoint;
    assert.deepEqual([c?.host, c?.port], [host, port], listen);
  }
  const listed = loadConfig({
    env: { ...base, KIOSK_TOKEN_LISTEN: '8079', KIOSK_TOKEN_RESOURCES: 'api://kiosk-api/ https://graph.microsoft.com/.default api://kiosk-api', KIOSK_TOKEN_SECRET: 'a'.repeat(32) },
  });
  assert.deepEqual(listed.config.tokenEndpoint?.resources, ['api://kiosk-api', 'https://graph.microsoft.com']);
  assert.equal(listed.config.tokenEndpoint?.secret, 'a'.repeat(32));
  assert.equal(describeConfig(listed.values).KIOSK_TOKEN_SECRET, '********');

  const problems = problemsOf({ ...base, KIOSK_TOKEN_LISTEN: 'kiosk.lan:8079', KIOSK_TOKEN_RESOURCES: 'http://plain.example ftp://x', KIOSK_TOKEN_SECRET: 'short secret' });
  assert.ok(problems.some((p) => p.startsWith('KIOSK_TOKEN_LISTEN: "kiosk.lan:8079" must be off, PORT or HOST:PORT')), problems.join(' | '));
  assert.equal(problems.filter((p) => p.startsWith('KIOSK_TOKEN_RESOURCES: ')).length, 2, 'each bad resource named');
  const secretProblem = problems.find((p) => p.startsWith('KIOSK_TOKEN_SECRET: '));
  assert.ok(secretProblem && !secretProblem.includes('short secret'), 'the secret is never repeated');
  for (const bad of ['70000', '-1', ':8079', '127.0.0.1:', 'on', '1.2.3.4:80:80'])
    assert.ok(problemsOf({ ...base, KIOSK_TOKEN_LISTEN: bad }).some((p) => p.startsWith('KIOSK_TOKEN_LISTEN: ')), bad);
  assert.deepEqual(problemsOf({ ...base, KIOSK_TOKEN_LISTEN: '8079' }), [
    'KIOSK_TOKEN_RESOURCES: names no resource, and KIOSK_SCOPES has no API scope to take one from; list the resources kiosk apps may ask for, e.g. api://<app-id>',
  ]);
  assert.deepEqual(problemsOf({ ...base, KIOSK_TOKEN_RESOURCES: 'not-a-resource' }).length, 1, 'resources are checked with the endpoint off too');
});

test('the settings of the person at the kiosk: sign-out schedule, remembering, the page\'s Sign out and hosts, the time zone', () => {
  const { config } = loadConfig({ env: { ...base, KIOSK_DEVICE_ID: 'k1' } });
  assert.deepEqual(
    [config.signOutCron, config.remember, config.web.signOut, config.web.allowedHosts, config.timeZone],
    [undefined, true, false, [], 'UTC'],
  );
  const set = loadConfig({
    env: {
      ...base, KIOSK_SIGN_OUT_CRON: '0 18 * * 1-5', KIOSK_REMEMBER: 'false', KIOSK_WEB_SIGN_OUT: 'true',
      KIOSK_WEB_ALLOWED_HOSTS: 'Kiosk.Local, 192.168.1.20 [FE80::1] ::2 lobby_screen', TZ: 'europe/berlin',
    },
  }).config;
  assert.deepEqual(
    [set.signOutCron, set.remember, set.web.signOut, set.web.allowedHosts, set.timeZone],
    ['0 18 * * 1-5', false, true, ['kiosk.local', '192.168.1.20', '[fe80::1]', '[::2]', 'lobby_screen'], 'Europe/Berlin'],
  );
  const problems = problemsOf({
    ...base, KIOSK_SIGN_OUT_CRON: 'at six', KIOSK_REMEMBER: 'forget', KIOSK_WEB_SIGN_OUT: 'sure',
    KIOSK_WEB_ALLOWED_HOSTS: 'kiosk.local http://evil.example:80', TZ: 'Mars/Olympus_Mons',
  });
  for (const name of ['KIOSK_SIGN_OUT_CRON', 'KIOSK_REMEMBER', 'KIOSK_WEB_SIGN_OUT', 'KIOSK_WEB_ALLOWED_HOSTS', 'TZ'])
    assert.ok(problems.some((p) => p.startsWith(`${name}: `)), `${name} is named: ${problems.join(' | ')}`);
  assert.match(problems.find((p) => p.startsWith('TZ: ')) ?? '', /"Mars\/Olympus_Mons" is not an IANA time zone; use a name such as Europe\/Berlin/);
  assert.match(problems.find((p) => p.startsWith('KIOSK_WEB_ALLOWED_HOSTS: ')) ?? '', /"http:\/\/evil.example:80" is not a host name; .*without scheme or port/);
  for (const tz of [':/etc/localtime', 'CET-1CEST,M3.5.0,M10.5.0/3', 'Europe/Berlin/x'])
    assert.ok(problemsOf({ ...base, TZ: tz }).some((p) => p.startsWith('TZ: ')), `TZ=${JSON.stringify(tz)} is refused`);
});

test('the touchscreen: a path and the size of its coordinates, only with the framebuffer display', () => {
  const fb = { ...base, KIOSK_DISPLAY: 'framebuffer', KIOSK_FRAMEBUFFER: '/dev/fb0' };
  assert.equal(loadConfig({ env: fb }).config.touch, undefined);
  assert.deepEqual(loadConfig({ env: { ...fb, KIOSK_TOUCH: '/dev/input/event0' } }).config.touch, { path: '/dev/input/event0', range: undefined });
  assert.deepEqual(loadConfig({ env: { ...fb, KIOSK_TOUCH: '/dev/input/event0', KIOSK_TOUCH_RANGE: '4096x4096' } }).config.touch?.range, { width: 4096, height: 4096 });
  assert.match(problemsOf({ ...base, KIOSK_TOUCH: '/dev/input/event0' }).join('\n'), /^KIOSK_TOUCH: .*add framebuffer to KIOSK_DISPLAY/m);
  for (const range of ['4096', '0x100', '100x99999', '4096X4096'])
    assert.match(problemsOf({ ...fb, KIOSK_TOUCH: '/dev/input/event0', KIOSK_TOUCH_RANGE: range }).join('\n'), /^KIOSK_TOUCH_RANGE: .*WIDTHxHEIGHT/m, range);
});

test('KIOSK_DEVICE_ID unset: the hostname outside a container; in one BALENA_DEVICE_UUID, a mounted /etc/machine-id, else exit 78 naming the fix', () => {
  // The host facts of a container, as /proc/self/mountinfo and the files read there show them.
  const mountinfo = (points: string[]): string => points.map((p, i) => `${100 + i} 1 254:0 /x ${p} rw - ext4 /dev/vda rw`).join('\n');
  const host = (name: string, points: string[], files: Record<string, string> = {}, env: Record<string, string> = {}) => ({
    hostname: name,
    env,
    read: (path: string) => (path === '/proc/self/mountinfo' ? mountinfo(points) : files[path]),
  });
  const machineId = '3f2a9c0d4b5e6f708192a3b4c5d6e7f8';
  const id = (h: ReturnType<typeof host>): string => loadConfig({ env: base, host: h }).config.deviceId;
  assert.equal(id(host('lobby-1.example.lan', ['/'])), 'lobby-1', 'a machine of its own: the hostname');
  assert.equal(id(host('kiosk-7', ['/', '/etc/hostname'])), 'kiosk-7', 'a container given a hostname keeps it');
  assert.equal(id(host('0123456789ab', ['/', '/etc/hostname'], {}, { BALENA_DEVICE_UUID: 'a1b2c3d4e5f60718293a4b5c6d7e8f90' })), 'a1b2c3d4e5f60718293a4b5c6d7e8f90');
  assert.equal(id(host('0123456789ab', ['/', '/etc/hostname', '/etc/machine-id'], { '/etc/machine-id': `${machineId}\n` })), machineId);
  // The image's own machine-id (not mounted) is the same in every container: never used.
  assert.throws(
    () => loadConfig({ env: base, host: host('0123456789ab', ['/', '/etc/hostname'], { '/etc/machine-id': `${machineId}\n` }) }),
    (e: unknown) => e instanceof ConfigError && e.exitCode === 78 && /KIOSK_DEVICE_ID: required in a container.*\/etc\/machine-id:\/etc\/machine-id:ro/.test(e.problems.join()),
  );
  assert.equal(loadConfig({ env: { ...base, KIOSK_DEVICE_ID: 'set' }, host: host('0123456789ab', ['/etc/hostname']) }).config.deviceId, 'set');
});

test('KIOSK_TERMINAL_ROWS and KIOSK_METRICS: unset by default, checked when given', () => {
  const { config } = loadConfig({ env: { ...base, KIOSK_DEVICE_ID: 'k1' } });
  assert.equal(config.terminalRows, undefined);
  assert.equal(config.metrics, false);
  assert.equal(loadConfig({ env: { ...base, KIOSK_DEVICE_ID: 'k1', KIOSK_TERMINAL_ROWS: '30' } }).config.terminalRows, 30);
  assert.equal(loadConfig({ env: { ...base, KIOSK_DEVICE_ID: 'k1', KIOSK_METRICS: 'true', KIOSK_DISPLAY: 'framebuffer,web', KIOSK_FRAMEBUFFER: '/dev/fb0' } }).config.metrics, true);
  assert.match(problemsOf({ ...base, KIOSK_DEVICE_ID: 'k1', KIOSK_METRICS: 'true' }).join(), /KIOSK_METRICS: .*add web to KIOSK_DISPLAY/);
  assert.match(problemsOf({ ...base, KIOSK_DEVICE_ID: 'k1', KIOSK_TERMINAL_ROWS: '2' }).join(), /KIOSK_TERMINAL_ROWS: .*4 to 1000/);
  assert.match(problemsOf({ ...base, KIOSK_DEVICE_ID: 'k1', KIOSK_METRICS: 'maybe' }).join(), /KIOSK_METRICS/);
});
