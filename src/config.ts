import { dirname, resolve } from 'node:path';
import { DISPLAY_NAMES, shown, Validator, withoutPassword } from './config-checks.js';
import { defaultDeviceId, realHost } from './device-id.js';
import type { HostFacts } from './device-id.js';
import type { DisplayName } from './config-checks.js';
import { ConfigError, messageOf } from './errors.js';
import { readSmallText } from './small-file.js';

export { DISPLAY_NAMES };
export type { DisplayName };

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface Config {
  readonly clientId: string;
  readonly authority: string;
  readonly scopes: readonly string[];
  readonly knownAuthorities: readonly string[];
  readonly extraQueryParameters: Readonly<Record<string, string>>;
  readonly deviceId: string;
  readonly mqtt: {
    /** False when `KIOSK_MQTT_URL` is `off`: a standalone kiosk with no broker. */
    readonly enabled: boolean;
    readonly url: string;
    readonly username?: string;
    readonly password?: string;
    readonly ca?: string;
    readonly cert?: string;
    readonly key?: string;
    readonly prefix: string;
  };
  readonly refreshCron: string;
  readonly displays: readonly DisplayName[];
  readonly framebuffer: { readonly path: string; readonly geometry?: { width: number; height: number; bpp: 16 | 24 | 32 } };
  readonly web: {
    readonly host: string;
    readonly port: number;
    /** The page's signed-in view has a Sign out button (KIOSK_WEB_SIGN_OUT). */
    readonly signOut: boolean;
    /** Host names the page answers to besides 127.0.0.1, localhost, [::1] and its own host (KIOSK_WEB_ALLOWED_HOSTS), lower case. */
    readonly allowedHosts: readonly string[];
  };
  readonly terminal: string;
  readonly cachePath: string;
  readonly cacheKey?: string;
  readonly stateDir: string;
  readonly claims: readonly string[];
  readonly haDiscovery: boolean;
  readonly haPrefix: string;
  readonly logLevel: string;
  /** Seconds any one call to the identity provider may take (addition to CONTRACT §3). */
  readonly httpTimeoutSeconds: number;
  /** `auto`, or the sign-in page to show whatever the provider names (KIOSK_VERIFICATION_URI). */
  readonly verificationUri: string;
  /** How the kiosk names itself on screen and in MQTT (KIOSK_DEVICE_NAME, default the device id). */
  readonly deviceName: string;
  readonly location?: string;
  /** Seconds a code stays on screen when shorter than the provider's lifetime (KIOSK_CODE_LIFETIME). */
  readonly codeLifetimeSeconds?: number;
  /** `auto`: a code as soon as none is signed in; `on_request`: only when asked (KIOSK_SIGN_IN). */
  readonly signIn: SignInMode;
  /** The local token endpoint for kiosk apps (CONTRACT §8); undefined while KIOSK_TOKEN_LISTEN is `off`. */
  readonly tokenEndpoint?: TokenEndpointConfig;
  /** node-cron expression: the kiosk signs out at these times (KIOSK_SIGN_OUT_CRON). */
  readonly signOutCron?: string;
  /** False: the token cache lives in memory only, nothing token-bearing is written (KIOSK_REMEMBER). */
  readonly remember: boolean;
  /** IANA time zone of the times on the displays and of the cron schedules (TZ); MQTT stays UTC. */
  readonly timeZone: string;
  /**
   * The framebuffer's touchscreen (KIOSK_TOUCH, a Linux evdev device) and the size of its coordinate
   * space (KIOSK_TOUCH_RANGE; undefined: the screen's pixels). Absent: no touch.
   */
  readonly touch?: { readonly path: string; readonly range?: { readonly width: number; readonly height: number } };
  /** Rows of a TTY the terminal display draws on, from the top; the rest is left as it is (KIOSK_TERMINAL_ROWS). */
  readonly terminalRows?: number;
  /** `GET /metrics` on the kiosk page's server (KIOSK_METRICS). */
  readonly metrics: boolean;
}

export interface TokenEndpointConfig {
  readonly host: string;
  /** 0: any free port (tests). */
  readonly port: number;
  /** Resources kiosk apps may ask tokens for, normalised (KIOSK_TOKEN_RESOURCES). */
  readonly resources: readonly string[];
  /** The `X-IDENTITY-HEADER` value; undefined: random at each start (KIOSK_TOKEN_SECRET). */
  readonly secret?: string;
}

export const SIGN_IN_MODES = ['auto', 'on_request'] as const;
export type SignInMode = (typeof SIGN_IN_MODES)[number];

/** Every setting the agent reads, with its default (undefined: none). Names are the public interface. */
export const SETTINGS: Readonly<Record<string, string | undefined>> = {
  KIOSK_CLIENT_ID: undefined,
  KIOSK_AUTHORITY: undefined,
  KIOSK_SCOPES: 'openid profile offline_access',
  KIOSK_KNOWN_AUTHORITIES: undefined,
  KIOSK_DEVICE_ID: undefined,
  KIOSK_MQTT_URL: 'mqtt://localhost:1883',
  KIOSK_MQTT_USERNAME: undefined,
  KIOSK_MQTT_PASSWORD: undefined,
  KIOSK_MQTT_CA: undefined,
  KIOSK_MQTT_CERT: undefined,
  KIOSK_MQTT_KEY: undefined,
  KIOSK_MQTT_PREFIX: 'kiosk',
  KIOSK_REFRESH_CRON: '*/15 * * * *',
  KIOSK_DISPLAY: 'terminal',
  KIOSK_FRAMEBUFFER: '/dev/fb0',
  KIOSK_FRAMEBUFFER_GEOMETRY: undefined,
  KIOSK_WEB_HOST: '127.0.0.1',
  KIOSK_WEB_PORT: '8080',
  KIOSK_CACHE_PATH: '/data/token-cache.json',
  KIOSK_CACHE_KEY: undefined,
  KIOSK_CLAIMS: 'name preferred_username email oid tid',
  KIOSK_HA_DISCOVERY: 'false',
  KIOSK_HA_PREFIX: 'homeassistant',
  KIOSK_LOG_LEVEL: 'info',
  KIOSK_TERMINAL: '-',
  KIOSK_EXTRA_QUERY_PARAMETERS: undefined,
  KIOSK_STATE_DIR: undefined,
  KIOSK_HTTP_TIMEOUT: '10',
  KIOSK_VERIFICATION_URI: 'auto',
  KIOSK_DEVICE_NAME: undefined,
  KIOSK_LOCATION: undefined,
  KIOSK_CODE_LIFETIME: undefined,
  KIOSK_SIGN_IN: 'auto',
  KIOSK_TOKEN_LISTEN: 'off',
  KIOSK_TOKEN_RESOURCES: undefined,
  KIOSK_TOKEN_SECRET: undefined,
  KIOSK_SIGN_OUT_CRON: undefined,
  KIOSK_REMEMBER: 'true',
  KIOSK_WEB_SIGN_OUT: 'false',
  KIOSK_WEB_ALLOWED_HOSTS: undefined,
  TZ: 'UTC',
  KIOSK_TOUCH: undefined,
  KIOSK_TOUCH_RANGE: undefined,
  KIOSK_TERMINAL_ROWS: undefined,
  KIOSK_METRICS: 'false',
};

/** Settings whose values are masked wherever configuration is printed. */
export const SECRET_SETTINGS = new Set(['KIOSK_MQTT_PASSWORD', 'KIOSK_CACHE_KEY', 'KIOSK_TOKEN_SECRET']);

export interface LoadedConfig {
  readonly config: Config;
  /** Settings the agent read, by name, as given (secrets included: print with `describeConfig`). */
  readonly values: Readonly<Record<string, string | undefined>>;
  /** Likely typos: `KIOSK_*` variables the agent does not know. */
  readonly warnings: readonly string[];
}

export interface ConfigSources {
  env?: NodeJS.ProcessEnv;
  /** Path given with `--config`. */
  file?: string;
  read?: (path: string) => string;
  /** Hostname, mounts and environment the default device id comes from (tests give their own). */
  host?: HostFacts;
}

/** Regular files of at most 64 KiB: `/dev/zero`, a FIFO or a huge file is refused by name, never read. */
const readText = (path: string): string => readSmallText(path);


/** Reads environment, `NAME_FILE` secrets and an optional JSON file once; every problem is reported together. */
export function loadConfig({ env = process.env, file, read = readText, host }: ConfigSources = {}): LoadedConfig {
  const problems: string[] = [];
  const warnings: string[] = [];
  const fromFile = file === undefined ? {} : readJsonFile(file, read, problems);

  const values: Record<string, string | undefined> = {};
  for (const [name, fallback] of Object.entries(SETTINGS)) {
    const direct = env[name];
    const secretPath = env[`${name}_FILE`];
    let value: string | undefined = fromFile[name];
    if (direct !== undefined && secretPath !== undefined) {
      problems.push(`${name}: both ${name} and ${name}_FILE are set; keep only one`);
    } else if (secretPath !== undefined) {
      try {
        value = read(secretPath).replace(/\r?\n$/, '');
      } catch (e) {
        problems.push(`${name}_FILE: cannot read ${shown(secretPath)} (${shown(messageOf(e))}); point it at a readable file`);
      }
    } else if (direct !== undefined) {
      value = direct;
    }
    values[name] = value === undefined || value.trim() === '' ? fallback : value.trim();
  }
  for (const name of Object.keys(env)) {
    const base = name.endsWith('_FILE') ? name.slice(0, -5) : name;
    if (name.startsWith('KIOSK_') && !(base in SETTINGS)) warnings.push(`${shown(name)} is not a kiosk-agent setting (a typo?); it is ignored`);
  }

  const v = new Validator(values, problems);
  const cachePath = resolve(v.text('KIOSK_CACHE_PATH'));
  const authority = v.authority('KIOSK_AUTHORITY');
  const mqttOff = values.KIOSK_MQTT_URL === 'off';
  const deviceId = v.deviceId('KIOSK_DEVICE_ID', values.KIOSK_DEVICE_ID === undefined ? defaultDeviceId(host ?? realHost(env)) : { id: '', from: '' });
  const scopes = v.words('KIOSK_SCOPES', /^[^\s"]+$/, 'scopes separated by spaces, e.g. "openid profile offline_access"');
  const config: Config = {
    clientId: v.clientId('KIOSK_CLIENT_ID'),
    authority,
    scopes,
    knownAuthorities: v.knownAuthorities('KIOSK_KNOWN_AUTHORITIES', authority),
    extraQueryParameters: v.query('KIOSK_EXTRA_QUERY_PARAMETERS'),
    deviceId,
    mqtt: {
      enabled: !mqttOff,
      url: mqttOff ? 'off' : v.url('KIOSK_MQTT_URL', ['mqtt:', 'mqtts:', 'ws:', 'wss:'], 'off'),
      username: v.optional('KIOSK_MQTT_USERNAME'),
      password: v.optional('KIOSK_MQTT_PASSWORD'),
      ca: v.readablePath('KIOSK_MQTT_CA'),
      cert: v.readablePath('KIOSK_MQTT_CERT'),
      key: v.readablePath('KIOSK_MQTT_KEY'),
      prefix: v.topic('KIOSK_MQTT_PREFIX'),
    },
    refreshCron: v.cron('KIOSK_REFRESH_CRON'),
    displays: v.displays('KIOSK_DISPLAY'),
    framebuffer: { path: v.text('KIOSK_FRAMEBUFFER'), geometry: v.geometry('KIOSK_FRAMEBUFFER_GEOMETRY') },
    web: {
      host: v.text('KIOSK_WEB_HOST'),
      port: v.integer('KIOSK_WEB_PORT', 0, 65535, 'a TCP port from 1 to 65535'),
      signOut: v.boolean('KIOSK_WEB_SIGN_OUT'),
      allowedHosts: v.hosts('KIOSK_WEB_ALLOWED_HOSTS'),
    },
    terminal: v.text('KIOSK_TERMINAL'),
    cachePath,
    cacheKey: v.cacheKey('KIOSK_CACHE_KEY'),
    stateDir: resolve(v.optional('KIOSK_STATE_DIR') ?? dirname(cachePath)),
    claims: v.words('KIOSK_CLAIMS', /^[A-Za-z0-9_.-]+$/, 'claim names separated by spaces, e.g. "name preferred_username"'),
    haDiscovery: v.boolean('KIOSK_HA_DISCOVERY'),
    haPrefix: v.topic('KIOSK_HA_PREFIX'),
    logLevel: v.oneOf('KIOSK_LOG_LEVEL', LOG_LEVELS),
    httpTimeoutSeconds: v.integer('KIOSK_HTTP_TIMEOUT', 1, 300, 'a number of seconds from 1 to 300'),
    verificationUri: v.verificationUri('KIOSK_VERIFICATION_URI'),
    deviceName: v.label('KIOSK_DEVICE_NAME', 64) ?? deviceId,
    location: v.label('KIOSK_LOCATION', 100),
    codeLifetimeSeconds: v.optionalInteger('KIOSK_CODE_LIFETIME', 60, 86_400, 'a number of seconds from 60 to 86400 (the provider\'s lifetime caps it)'),
    signIn: v.oneOf('KIOSK_SIGN_IN', SIGN_IN_MODES) as SignInMode,
    tokenEndpoint: v.tokenEndpoint('KIOSK_TOKEN_LISTEN', 'KIOSK_TOKEN_RESOURCES', 'KIOSK_TOKEN_SECRET', scopes),
    signOutCron: v.optional('KIOSK_SIGN_OUT_CRON') === undefined ? undefined : v.cron('KIOSK_SIGN_OUT_CRON'),
    remember: v.boolean('KIOSK_REMEMBER'),
    timeZone: v.timeZone('TZ'),
    touch: v.optional('KIOSK_TOUCH') === undefined ? undefined : { path: v.text('KIOSK_TOUCH'), range: v.size('KIOSK_TOUCH_RANGE') },
    terminalRows: v.optionalInteger('KIOSK_TERMINAL_ROWS', 4, 1000, 'a number of rows from 4 to 1000 (unset: the whole screen)'),
    metrics: v.boolean('KIOSK_METRICS'),
  };
  if ((config.mqtt.cert === undefined) !== (config.mqtt.key === undefined))
    problems.push('KIOSK_MQTT_CERT: a client certificate needs both KIOSK_MQTT_CERT and KIOSK_MQTT_KEY; set both or neither');
  if (config.displays.includes('framebuffer') && config.framebuffer.geometry === undefined && !config.framebuffer.path.startsWith('/dev/'))
    problems.push('KIOSK_FRAMEBUFFER_GEOMETRY: required when KIOSK_FRAMEBUFFER is a plain file; set it to WIDTHxHEIGHTxBPP, e.g. 800x480x32');
  if (config.touch !== undefined && !config.displays.includes('framebuffer'))
    problems.push('KIOSK_TOUCH: the touchscreen works the framebuffer display; add framebuffer to KIOSK_DISPLAY, or unset KIOSK_TOUCH');
  if (config.metrics && !config.displays.includes('web'))
    problems.push('KIOSK_METRICS: /metrics is served by the kiosk page\'s server; add web to KIOSK_DISPLAY (it listens on KIOSK_WEB_HOST:KIOSK_WEB_PORT), or unset KIOSK_METRICS');
  if (problems.length > 0) throw new ConfigError(problems);
  // `kiosk-agent config` shows the resources in force, also when they come from KIOSK_SCOPES.
  if (config.tokenEndpoint) values.KIOSK_TOKEN_RESOURCES = config.tokenEndpoint.resources.join(' ');
  // … and the device id in force, also when it comes from the hostname, BALENA_DEVICE_UUID or /etc/machine-id.
  values.KIOSK_DEVICE_ID ??= config.deviceId;
  return Object.freeze({ config: deepFreeze(config), values: Object.freeze(values), warnings });
}

/** The effective settings, secrets masked, for `kiosk-agent config`. */
export function describeConfig(values: Readonly<Record<string, string | undefined>>): Record<string, string | null> {
  return Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k, v === undefined ? null : SECRET_SETTINGS.has(k) ? '********' : withoutPassword(v, '********')]),
  );
}

function readJsonFile(path: string, read: (p: string) => string, problems: string[]): Record<string, string> {
  let data: unknown;
  try {
    data = JSON.parse(read(path));
  } catch (e) {
    problems.push(`--config: cannot use ${shown(path)} (${shown(messageOf(e))}); give a readable JSON file`);
    return {};
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    problems.push(`--config: ${shown(path)} must hold a JSON object of settings, e.g. {"KIOSK_CLIENT_ID": "…"}`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(data)) {
    if (!Object.hasOwn(SETTINGS, key)) {
      const where = /^KIOSK_\w+$/.test(key) ? key : `--config: "${shown(key)}"`;
      problems.push(`${where}: unknown key in ${shown(path)}; use a setting name such as KIOSK_CLIENT_ID (see README)`);
    } else if (Array.isArray(value) && value.every((x) => typeof x === 'string'))
      out[key] = value.join(key === 'KIOSK_DISPLAY' ? ',' : ' ');
    else if (['string', 'number', 'boolean'].includes(typeof value)) out[key] = String(value);
    else problems.push(`${key}: in ${shown(path)} must be a string, number or boolean`);
  }
  return out;
}


function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) deepFreeze(v);
  return Object.freeze(o);
}
