/**
 * The shape of a loaded configuration and the slice each part takes. Types only (and the word lists
 * the checks and the types share), so the settings, their checks and their consumers all import
 * this module and it imports none of them.
 */

export const DISPLAY_NAMES = ['terminal', 'framebuffer', 'web'] as const;
export type DisplayName = (typeof DISPLAY_NAMES)[number];

/** The broker URL's schemes (KIOSK_MQTT_URL, `kiosk-agent watch --url`). */
export const MQTT_PROTOCOLS = ['mqtt:', 'mqtts:', 'ws:', 'wss:'] as const;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

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

/** What sign-in takes: the app registration, the provider, the token cache (`Auth`). */
export type AuthConfig = Pick<
  Config,
  | 'clientId' | 'authority' | 'scopes' | 'knownAuthorities' | 'extraQueryParameters' | 'claims' | 'httpTimeoutSeconds'
  | 'verificationUri' | 'codeLifetimeSeconds' | 'cachePath' | 'cacheKey' | 'remember'
>;

/** What the MQTT publisher takes, Home Assistant discovery included; the kiosk page's address for the device's link. */
export type MqttConfig = Pick<Config, 'deviceId' | 'deviceName' | 'location' | 'mqtt' | 'haDiscovery' | 'haPrefix'> &
  Partial<Pick<Config, 'displays' | 'web'>>;

/** What the displays take (src/displays/), the kiosk page's `web` among them. */
export type DisplaysConfig = Pick<
  Config,
  'displays' | 'framebuffer' | 'web' | 'terminal' | 'terminalRows' | 'touch' | 'signIn' | 'timeZone' | 'deviceId' | 'deviceName' | 'location'
>;

/** The kiosk page's server (KIOSK_WEB_*). */
export type WebConfig = Config['web'];

/** What the token endpoint takes, once it is on. */
export type TokenEndpointSlice = Pick<Config, 'clientId' | 'scopes' | 'stateDir'> & { readonly tokenEndpoint: TokenEndpointConfig };
