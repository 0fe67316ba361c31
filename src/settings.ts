import { resolve } from 'node:path';
import { DISPLAY_NAMES, LOG_LEVELS, MQTT_PROTOCOLS, SIGN_IN_MODES } from './config-types.js';
import type { SignInMode } from './config-types.js';
import type { Validator } from './config-checks.js';
import type { DefaultDeviceId } from './device-id.js';

/**
 * Every setting the agent reads, declared once: its name (the public interface), its default, how it
 * is checked, whether it is secret, what it means, and the part that takes it. Loading
 * (src/config.ts), `kiosk-agent config`, `--help` and the README's table (`npm run docs:settings`)
 * all come from this table.
 */

/** The part of the agent a setting is for; `--help` lists the settings under these headings. */
export const SETTING_GROUPS = {
  auth: 'Sign-in, the identity provider and the token cache',
  kiosk: 'The kiosk',
  mqtt: 'MQTT and Home Assistant',
  displays: 'Displays',
  web: "The kiosk page's server",
  tokenEndpoint: 'The token endpoint for kiosk apps',
} as const;
export type SettingGroup = keyof typeof SETTING_GROUPS;

/** What a check may read besides its own value: the settings it depends on, checked first. */
export interface CheckContext {
  readonly authority: () => string;
  readonly scopes: () => readonly string[];
  /** Where the device id comes from when KIOSK_DEVICE_ID is unset (src/device-id.ts). */
  readonly defaultDeviceId: () => DefaultDeviceId;
}

export interface Setting<T> {
  readonly group: SettingGroup;
  /** The value in force when the setting is unset or blank; absent: none. */
  readonly fallback?: string;
  /** The README's and `--help`'s default when it is not `fallback` as it is (Markdown). */
  readonly shownDefault?: string;
  /** Masked wherever configuration is printed. */
  readonly secret?: true;
  /** One line for `--help`. */
  readonly about: string;
  /** The README's meaning column when it says more than `about` (Markdown, one line). */
  readonly readme?: string;
  /** Checks the value (`v` records a problem naming the setting and its fix) and returns it parsed. */
  readonly check: (v: Validator, name: string, c: CheckContext) => T;
}

const setting = <T>(s: Setting<T>): Setting<T> => s;

/** KIOSK_REFRESH_CRON's default: every 15 minutes. */
export const DEFAULT_REFRESH_CRON = '*/15 * * * *';

export const SETTINGS_TABLE = {
  KIOSK_CLIENT_ID: setting({
    group: 'auth', shownDefault: 'required', about: 'application (client) id', check: (v, n) => v.clientId(n),
  }),
  KIOSK_AUTHORITY: setting({
    group: 'auth', shownDefault: 'required', about: 'the authority', readme: 'e.g. `https://contoso.ciamlogin.com/`', check: (v, n) => v.authority(n),
  }),
  KIOSK_SCOPES: setting({
    group: 'auth', fallback: 'openid profile offline_access', about: 'scopes, space separated', readme: 'space separated',
    check: (v, n) => v.words(n, /^[^\s"]+$/, 'scopes separated by spaces, e.g. "openid profile offline_access"'),
  }),
  KIOSK_KNOWN_AUTHORITIES: setting({
    group: 'auth', shownDefault: "the authority's own origin", about: 'extra trusted authority origins, space separated',
    readme: 'extra trusted authority origins, space separated (see Troubleshooting: `issuer_not_trusted`)',
    check: (v, n, c) => v.knownAuthorities(n, c.authority()),
  }),
  KIOSK_DEVICE_ID: setting({
    group: 'kiosk', shownDefault: 'hostname', about: 'MQTT topic segment and display label; letters, digits, _ and -',
    readme:
      'MQTT topic segment and display label; letters, digits, `_` and `-` only. In a container: `BALENA_DEVICE_UUID` on balena, else the host\'s `/etc/machine-id` when it is mounted (`-v /etc/machine-id:/etc/machine-id:ro`), else a hostname given to the container; its random default hostname is refused (exit 78), since it changes on every recreate and would move the kiosk\'s topics',
    check: (v, n, c) => v.deviceId(n, v.optional(n) === undefined ? c.defaultDeviceId() : { id: '', from: '' }),
  }),
  KIOSK_MQTT_URL: setting({
    group: 'mqtt', fallback: 'mqtt://localhost:1883', about: 'the broker: mqtt://, mqtts://, ws://, wss://, or off',
    readme: '`mqtt://`, `mqtts://`, `ws://`, `wss://`; `off` for a standalone kiosk with no broker',
    check: (v, n) => (v.optional(n) === 'off' ? 'off' : v.url(n, MQTT_PROTOCOLS, 'off')),
  }),
  KIOSK_MQTT_USERNAME: setting({ group: 'mqtt', about: "the broker account's user name", check: (v, n) => v.optional(n) }),
  KIOSK_MQTT_PASSWORD: setting({ group: 'mqtt', secret: true, about: "the broker account's password", check: (v, n) => v.optional(n) }),
  KIOSK_MQTT_CA: setting({ group: 'mqtt', about: "PEM file of the broker's CA, for TLS", check: (v, n) => v.readablePath(n) }),
  KIOSK_MQTT_CERT: setting({ group: 'mqtt', about: 'PEM file of a client certificate (with KIOSK_MQTT_KEY)', check: (v, n) => v.readablePath(n) }),
  KIOSK_MQTT_KEY: setting({ group: 'mqtt', about: "PEM file of the client certificate's key", check: (v, n) => v.readablePath(n) }),
  KIOSK_MQTT_PREFIX: setting({ group: 'mqtt', fallback: 'kiosk', about: 'topic prefix', check: (v, n) => v.topic(n) }),
  KIOSK_REFRESH_CRON: setting({
    group: 'kiosk', fallback: DEFAULT_REFRESH_CRON, about: 'node-cron expression for silent refresh',
    readme: 'node-cron expression for silent refresh (five fields, or six with seconds)', check: (v, n) => v.cron(n, DEFAULT_REFRESH_CRON),
  }),
  KIOSK_DISPLAY: setting({
    group: 'displays', fallback: 'terminal', about: `comma list of ${DISPLAY_NAMES.join(', ')}`,
    readme: `comma list of ${DISPLAY_NAMES.map((d) => `\`${d}\``).join(', ')}`, check: (v, n) => v.displays(n),
  }),
  KIOSK_FRAMEBUFFER: setting({ group: 'displays', fallback: '/dev/fb0', about: 'framebuffer device or a file', check: (v, n) => v.text(n) }),
  KIOSK_FRAMEBUFFER_GEOMETRY: setting({
    group: 'displays', about: 'WIDTHxHEIGHTxBPP, required when KIOSK_FRAMEBUFFER is a plain file',
    readme: '`WIDTHxHEIGHTxBPP`, required when `KIOSK_FRAMEBUFFER` is a plain file', check: (v, n) => v.geometry(n),
  }),
  KIOSK_WEB_HOST: setting({ group: 'web', fallback: '127.0.0.1', about: 'address the kiosk page binds', check: (v, n) => v.text(n) }),
  KIOSK_WEB_PORT: setting({
    group: 'web', fallback: '8080', about: 'port of the kiosk web page', check: (v, n) => v.integer(n, 0, 65535, 'a TCP port from 1 to 65535'),
  }),
  KIOSK_CACHE_PATH: setting({
    group: 'auth', fallback: '/data/token-cache.json', about: 'the token cache (mode 0600, written atomically)', check: (v, n) => resolve(v.text(n)),
  }),
  KIOSK_CACHE_KEY: setting({
    group: 'auth', secret: true, about: 'passphrase (16 characters or more) that encrypts the cache at rest with AES-256-GCM',
    check: (v, n) => v.cacheKey(n),
  }),
  KIOSK_CLAIMS: setting({
    group: 'auth', fallback: 'name preferred_username email oid tid', about: 'ID-token claims allowed onto MQTT and the display',
    check: (v, n) => v.words(n, /^[A-Za-z0-9_.-]+$/, 'claim names separated by spaces, e.g. "name preferred_username"'),
  }),
  KIOSK_HA_DISCOVERY: setting({ group: 'mqtt', fallback: 'false', about: 'Home Assistant MQTT discovery', check: (v, n) => v.boolean(n) }),
  KIOSK_HA_PREFIX: setting({ group: 'mqtt', fallback: 'homeassistant', about: "Home Assistant's discovery topic prefix", check: (v, n) => v.topic(n) }),
  KIOSK_LOG_LEVEL: setting({
    group: 'kiosk', fallback: 'info', about: LOG_LEVELS.join(', '),
    readme: `${LOG_LEVELS.slice(0, -1).map((l) => `\`${l}\``).join(', ')} or \`${LOG_LEVELS.at(-1)}\``, check: (v, n) => v.oneOf(n, LOG_LEVELS),
  }),
  KIOSK_TERMINAL: setting({
    group: 'displays', fallback: '-', shownDefault: '`-` (`auto` in the container image)', about: 'where the terminal display draws: - (stdout), auto, or a device',
    readme:
      'where the terminal display draws: `-` is stdout, or a device such as `/dev/tty1`; `auto` is stdout too, but when stdout is no TTY (`docker logs`) and `KIOSK_DISPLAY` has a framebuffer or web display, the terminal is left out, so `docker logs` holds only the JSON logs',
    check: (v, n) => v.text(n),
  }),
  KIOSK_EXTRA_QUERY_PARAMETERS: setting({
    group: 'auth', about: 'extra query parameters for the provider, k=v&k2=v2',
    readme: 'extra query parameters for the provider, `k=v&k2=v2` (some External ID tenants need e.g. `dc=…`)', check: (v, n) => v.query(n),
  }),
  KIOSK_STATE_DIR: setting({
    group: 'kiosk', shownDefault: 'directory of `KIOSK_CACHE_PATH`', about: 'where the agent keeps status.json for kiosk-agent health',
    readme: 'where the agent keeps `status.json` for `kiosk-agent health`', check: (v, n) => v.optional(n),
  }),
  KIOSK_HTTP_TIMEOUT: setting({
    group: 'auth', fallback: '10', about: 'seconds any one call to the identity provider may take (1 to 300)',
    check: (v, n) => v.integer(n, 1, 300, 'a number of seconds from 1 to 300'),
  }),
  KIOSK_VERIFICATION_URI: setting({
    group: 'auth', fallback: 'auto', about: "the sign-in page shown and encoded in the QR: auto (the provider's), or an https URL",
    readme:
      "the sign-in page shown and encoded in the QR. `auto`: the provider's page (with the code in it when the provider gives one), except on Entra External ID: an authority on `*.ciamlogin.com` whose provider names `https://microsoft.com/devicelogin` (where the tenant's own accounts get `AADSTS500208`) shows `<origin of KIOSK_AUTHORITY>/common/oauth2/deviceauth`. An https URL: that page, always",
    check: (v, n) => v.verificationUri(n),
  }),
  KIOSK_DEVICE_NAME: setting({
    group: 'kiosk', shownDefault: 'the device id', about: 'how the kiosk names itself (one line, up to 64 characters)',
    readme: 'how the kiosk names itself on every screen, in MQTT state (`agent.name`) and to Home Assistant (device name); one line, up to 64 characters',
    check: (v, n) => v.label(n, 64),
  }),
  KIOSK_LOCATION: setting({
    group: 'kiosk', about: 'where the kiosk is (one line, up to 100 characters)',
    readme: 'where the kiosk is, on every screen, in MQTT state (`agent.location`) and to Home Assistant (`suggested_area`); one line, up to 100 characters',
    check: (v, n) => v.label(n, 100),
  }),
  KIOSK_CODE_LIFETIME: setting({
    group: 'auth', shownDefault: "the provider's", about: 'seconds a code stays on screen before a fresh one replaces it',
    readme: "seconds a code stays on screen before a fresh one replaces it (60 up to the provider's lifetime)",
    check: (v, n) => v.optionalInteger(n, 60, 86_400, 'a number of seconds from 60 to 86400 (the provider\'s lifetime caps it)'),
  }),
  KIOSK_SIGN_IN: setting({
    group: 'kiosk', fallback: 'auto', about: 'auto: a code as soon as nobody is signed in; on_request: only when asked',
    readme:
      '`auto`: a code as soon as nobody is signed in. `on_request`: "Not signed in" until an operator sends `restart_sign_in` or a person presses Sign in on the kiosk page; a code that expires or is declined goes back to "Not signed in", and an administrator fault waits for the next request',
    check: (v, n) => v.oneOf(n, SIGN_IN_MODES) as SignInMode,
  }),
  KIOSK_TOKEN_LISTEN: setting({
    group: 'tokenEndpoint', fallback: 'off', about: '[HOST:]PORT of the local token endpoint for kiosk apps, or off',
    readme:
      '`[HOST:]PORT` of the local token endpoint for kiosk apps, e.g. `8079`; HOST defaults to `127.0.0.1` (an IP address, `[…]` for IPv6, or `localhost`; any other than loopback is logged as a warning)',
    check: (v, n) => v.tokenListen(n),
  }),
  KIOSK_TOKEN_RESOURCES: setting({
    group: 'tokenEndpoint', shownDefault: 'the resources of the API scopes in `KIOSK_SCOPES`', about: 'resources kiosk apps may ask tokens for',
    readme: 'space-separated `api://…` or `https://…` resources kiosk apps may ask tokens for', check: (v, n, c) => v.tokenResources(n, c.scopes()),
  }),
  KIOSK_TOKEN_SECRET: setting({
    group: 'tokenEndpoint', secret: true, shownDefault: 'random at each start', about: 'the X-IDENTITY-HEADER value kiosk apps send',
    readme: 'the `X-IDENTITY-HEADER` value kiosk apps send (16 to 512 visible characters); usually left unset', check: (v, n) => v.tokenSecret(n),
  }),
  KIOSK_SIGN_OUT_CRON: setting({
    group: 'kiosk', about: 'node-cron expression (in TZ): the kiosk signs out at these times',
    readme: 'node-cron expression (read in the `TZ` zone): the kiosk signs out at these times, e.g. `0 18 * * 1-5` at the end of a shift, then follows `KIOSK_SIGN_IN`',
    check: (v, n) => (v.optional(n) === undefined ? undefined : v.cron(n)),
  }),
  KIOSK_REMEMBER: setting({
    group: 'auth', fallback: 'true', about: 'false: the token cache lives in memory only',
    readme: '`false`: the token cache lives in memory only; nothing secret is written to disk and every boot asks for a code', check: (v, n) => v.boolean(n),
  }),
  KIOSK_WEB_SIGN_OUT: setting({
    group: 'web', fallback: 'false', about: "true: the kiosk page's signed-in view has a Sign out button",
    readme: "`true`: the kiosk page's signed-in view has a Sign out button (with a confirm step)", check: (v, n) => v.boolean(n),
  }),
  KIOSK_WEB_ALLOWED_HOSTS: setting({
    group: 'web', about: 'more names the kiosk page answers to',
    readme:
      'more names the kiosk page answers to (space or comma separated, no scheme or port), e.g. `kiosk.local 192.168.1.20`; it always answers `127.0.0.1`, `localhost`, `[::1]` and `KIOSK_WEB_HOST`',
    check: (v, n) => v.hosts(n),
  }),
  TZ: setting({
    group: 'kiosk', fallback: 'UTC', about: 'IANA time zone of the displays and the cron expressions',
    readme: 'IANA time zone of the times on the displays and of the cron expressions, e.g. `Europe/Berlin`; MQTT stays UTC. An unknown name exits 78',
    check: (v, n) => v.timeZone(n),
  }),
  KIOSK_TOUCH: setting({
    group: 'displays', about: "the framebuffer's touchscreen, e.g. /dev/input/event0",
    readme: "the framebuffer's touchscreen, e.g. `/dev/input/event0`: Sign out and Sign in as buttons on the framebuffer (see Displays)",
    check: (v, n) => v.optional(n),
  }),
  KIOSK_TOUCH_RANGE: setting({
    group: 'displays', shownDefault: "the screen's pixels", about: "WIDTHxHEIGHT of the touchscreen's coordinates",
    readme: "`WIDTHxHEIGHT` of the touchscreen's coordinates when they are not the screen's pixels, e.g. `4096x4096`",
    // Read only with a touchscreen: without one it means nothing.
    check: (v, n) => (v.optional('KIOSK_TOUCH') === undefined ? undefined : v.size(n)),
  }),
  KIOSK_TERMINAL_ROWS: setting({
    group: 'displays', shownDefault: 'the whole screen', about: 'the rows of a TTY the terminal display draws on, from the top',
    readme: 'the rows of a TTY the terminal display draws on, from the top (4 to 1000); the rest of the screen is left as it is (`npm run demo` keeps its banner there)',
    check: (v, n) => v.optionalInteger(n, 4, 1000, 'a number of rows from 4 to 1000 (unset: the whole screen)'),
  }),
  KIOSK_METRICS: setting({
    group: 'web', fallback: 'false', about: "true: GET /metrics (Prometheus) on the kiosk page's server",
    readme: "`true`: `GET /metrics` in the Prometheus text format on the kiosk page's server (needs `web` in `KIOSK_DISPLAY`; see [Metrics](#metrics-prometheus))",
    check: (v, n) => v.boolean(n),
  }),
};

export type SettingName = keyof typeof SETTINGS_TABLE;
/** Each setting's checked value. */
export type Checked = { readonly [K in SettingName]: ReturnType<(typeof SETTINGS_TABLE)[K]['check']> };

export const SETTING_NAMES = Object.keys(SETTINGS_TABLE) as SettingName[];

/** The value a setting has when it is not given (the table's `fallback`). */
export const defaultOf = (name: SettingName): string | undefined => SETTINGS_TABLE[name].fallback;

export const isSettingName = (name: string): name is SettingName => Object.hasOwn(SETTINGS_TABLE, name);

/** The names of a group's settings, in the table's order (e.g. `kiosk-agent watch` reads the `mqtt` ones). */
export const settingsOf = (group: SettingGroup): SettingName[] => SETTING_NAMES.filter((n) => SETTINGS_TABLE[n].group === group);
