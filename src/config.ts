import { dirname, resolve } from 'node:path';
import { Validator } from './config-checks.js';
import { shown, withoutPassword } from './value-checks.js';
import type { Config, TokenEndpointConfig } from './config-types.js';
import { defaultDeviceId, realHost } from './device-id.js';
import type { DefaultDeviceId, HostFacts } from './device-id.js';
import { ConfigError, messageOf } from './errors.js';
import { isSettingName, SETTING_NAMES, SETTINGS_TABLE } from './settings.js';
import type { CheckContext, Checked, SettingName } from './settings.js';
import { readSmallText } from './small-file.js';

export { DISPLAY_NAMES, SIGN_IN_MODES } from './config-types.js';
export type {
  AuthConfig, Config, DisplayName, DisplaysConfig, MqttConfig, SignInMode, TokenEndpointConfig, TokenEndpointSlice, WebConfig,
} from './config-types.js';

/** Every setting the agent reads, with its default (undefined: none), from the table in src/settings.ts. */
export const SETTINGS: Readonly<Record<string, string | undefined>> = Object.fromEntries(SETTING_NAMES.map((n) => [n, SETTINGS_TABLE[n].fallback]));

/** Settings whose values are masked wherever configuration is printed. */
export const SECRET_SETTINGS: ReadonlySet<string> = new Set(SETTING_NAMES.filter((n) => SETTINGS_TABLE[n].secret));

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
  for (const name of SETTING_NAMES) {
    const { fallback } = SETTINGS_TABLE[name];
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
    if (name.startsWith('KIOSK_') && !isSettingName(base)) warnings.push(`${shown(name)} is not a kiosk-agent setting (a typo?); it is ignored`);
  }

  const v = new Validator(values, problems);
  const s = checkedSettings(v, () => defaultDeviceId(host ?? realHost(env)));
  // Checked in this order, so problems are listed in the order they always were.
  const { KIOSK_CACHE_PATH: cachePath, KIOSK_AUTHORITY: authority, KIOSK_DEVICE_ID: deviceId, KIOSK_SCOPES: scopes } = s;
  const config: Config = {
    clientId: s.KIOSK_CLIENT_ID,
    authority,
    scopes,
    knownAuthorities: s.KIOSK_KNOWN_AUTHORITIES,
    extraQueryParameters: s.KIOSK_EXTRA_QUERY_PARAMETERS,
    deviceId,
    mqtt: {
      enabled: s.KIOSK_MQTT_URL !== 'off',
      url: s.KIOSK_MQTT_URL,
      username: s.KIOSK_MQTT_USERNAME,
      password: s.KIOSK_MQTT_PASSWORD,
      ca: s.KIOSK_MQTT_CA,
      cert: s.KIOSK_MQTT_CERT,
      key: s.KIOSK_MQTT_KEY,
      prefix: s.KIOSK_MQTT_PREFIX,
    },
    refreshCron: s.KIOSK_REFRESH_CRON,
    displays: s.KIOSK_DISPLAY,
    framebuffer: { path: s.KIOSK_FRAMEBUFFER, geometry: s.KIOSK_FRAMEBUFFER_GEOMETRY },
    web: { host: s.KIOSK_WEB_HOST, port: s.KIOSK_WEB_PORT, signOut: s.KIOSK_WEB_SIGN_OUT, allowedHosts: s.KIOSK_WEB_ALLOWED_HOSTS },
    terminal: s.KIOSK_TERMINAL,
    cachePath,
    cacheKey: s.KIOSK_CACHE_KEY,
    stateDir: resolve(s.KIOSK_STATE_DIR ?? dirname(cachePath)),
    claims: s.KIOSK_CLAIMS,
    haDiscovery: s.KIOSK_HA_DISCOVERY,
    haPrefix: s.KIOSK_HA_PREFIX,
    logLevel: s.KIOSK_LOG_LEVEL,
    httpTimeoutSeconds: s.KIOSK_HTTP_TIMEOUT,
    verificationUri: s.KIOSK_VERIFICATION_URI,
    deviceName: s.KIOSK_DEVICE_NAME ?? deviceId,
    location: s.KIOSK_LOCATION,
    codeLifetimeSeconds: s.KIOSK_CODE_LIFETIME,
    signIn: s.KIOSK_SIGN_IN,
    tokenEndpoint: tokenEndpoint(s, v),
    signOutCron: s.KIOSK_SIGN_OUT_CRON,
    remember: s.KIOSK_REMEMBER,
    timeZone: s.TZ,
    touch: s.KIOSK_TOUCH === undefined ? undefined : { path: s.KIOSK_TOUCH, range: s.KIOSK_TOUCH_RANGE },
    terminalRows: s.KIOSK_TERMINAL_ROWS,
    metrics: s.KIOSK_METRICS,
  };
  for (const name of SETTING_NAMES) void s[name]; // a setting missing above is still checked
  checkCombinations(config, v);
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

/**
 * Each setting's checked value, checked on first read and once: a check that needs another
 * setting (the known authorities the authority, say) reads it through the context.
 */
function checkedSettings(v: Validator, defaultId: () => DefaultDeviceId): Checked {
  const done = new Map<SettingName, unknown>();
  const context: CheckContext = { authority: () => get('KIOSK_AUTHORITY'), scopes: () => get('KIOSK_SCOPES'), defaultDeviceId: defaultId };
  function get<K extends SettingName>(name: K): Checked[K] {
    if (!done.has(name)) done.set(name, SETTINGS_TABLE[name].check(v, name, context));
    return done.get(name) as Checked[K];
  }
  return Object.defineProperties({}, Object.fromEntries(SETTING_NAMES.map((n) => [n, { get: () => get(n), enumerable: true }]))) as Checked;
}

/** CONTRACT §8: the endpoint's address, the resources kiosk apps may ask for, and an optional fixed header secret. */
function tokenEndpoint(s: Checked, v: Validator): TokenEndpointConfig | undefined {
  const { KIOSK_TOKEN_RESOURCES: resources, KIOSK_TOKEN_SECRET: secret, KIOSK_TOKEN_LISTEN: listen } = s;
  if (listen === undefined) return undefined;
  if (resources.length === 0)
    v.problem('KIOSK_TOKEN_RESOURCES', 'names no resource, and KIOSK_SCOPES has no API scope to take one from; list the resources kiosk apps may ask for, e.g. api://<app-id>');
  return { ...listen, resources, secret };
}

/** Rules between settings, each named by the setting to change. */
function checkCombinations(config: Config, v: Validator): void {
  if ((config.mqtt.cert === undefined) !== (config.mqtt.key === undefined))
    v.problem('KIOSK_MQTT_CERT', 'a client certificate needs both KIOSK_MQTT_CERT and KIOSK_MQTT_KEY; set both or neither');
  if (config.displays.includes('framebuffer') && config.framebuffer.geometry === undefined && !config.framebuffer.path.startsWith('/dev/'))
    v.problem('KIOSK_FRAMEBUFFER_GEOMETRY', 'required when KIOSK_FRAMEBUFFER is a plain file; set it to WIDTHxHEIGHTxBPP, e.g. 800x480x32');
  if (config.touch !== undefined && !config.displays.includes('framebuffer'))
    v.problem('KIOSK_TOUCH', 'the touchscreen works the framebuffer display; add framebuffer to KIOSK_DISPLAY, or unset KIOSK_TOUCH');
  if (config.metrics && !config.displays.includes('web'))
    v.problem('KIOSK_METRICS', '/metrics is served by the kiosk page\'s server; add web to KIOSK_DISPLAY (it listens on KIOSK_WEB_HOST:KIOSK_WEB_PORT), or unset KIOSK_METRICS');
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
    if (!isSettingName(key)) {
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
