import type { Config } from '../config.js';
import { STATES } from '../state.js';
import type { Topics } from './topics.js';

/**
 * Home Assistant MQTT discovery (CONTRACT §2, `KIOSK_HA_DISCOVERY`), device-based: one retained config on
 * `<ha_prefix>/device/<device_id>/config` carrying the device, the `origin` and every entity in
 * `components` (one message where per-entity discovery needs one per entity). The kiosk's own topics
 * are unchanged: the entities read its state and claims and press its request topics.
 */
export interface DiscoveryInput {
  readonly haPrefix: string;
  readonly deviceId: string;
  /** KIOSK_DEVICE_NAME (the device id when unset), and KIOSK_LOCATION as Home Assistant's suggested area. */
  readonly deviceName?: string;
  readonly location?: string;
  readonly version: string;
  readonly topics: Topics;
  /** The kiosk page, when it is served by a name others can open (`kioskPageUrl`). */
  readonly configurationUrl?: string;
}

export interface DiscoveryMessage {
  readonly topic: string;
  readonly payload: string;
}

/** Home Assistant announces itself here (`online` / `offline`); `online` means "announce again". */
export const haStatusTopic = (haPrefix: string): string => `${haPrefix}/status`;

/** The one device-based discovery topic of a kiosk. */
export const deviceDiscoveryTopic = (haPrefix: string, deviceId: string): string => `${haPrefix}/device/${deviceId}/config`;

/**
 * The per-entity topics earlier versions announced on. A config still retained there is handed over
 * to the device-based one as Home Assistant advises (`migrate_discovery`, the device config, then an
 * empty retained message), so no entity is lost and no ghost stays behind.
 */
export const legacyDiscoveryTopics = (haPrefix: string, deviceId: string): readonly string[] =>
  ['sensor/%/sign_in_state', 'sensor/%/signed_in_user', 'button/%/refresh', 'button/%/sign_out'].map(
    (path) => `${haPrefix}/${path.replace('%', deviceId)}/config`,
  );

/** What a per-entity topic gets first when it is migrated (Home Assistant's `migrate_discovery`). */
export const MIGRATE_PAYLOAD = JSON.stringify({ migrate_discovery: true });

/**
 * The signed-in user's display name (or username) while signed in; otherwise `None`, Home Assistant's
 * payload for "no value", so the sensor reads "unknown" rather than an empty string.
 */
const USER_TEMPLATE =
  "{% if value_json.state == 'signed_in' and value_json.account is defined %}" +
  "{{ value_json.account.name | default(value_json.account.username) }}{% else %}None{% endif %}";
/** The access token's expiry while signed in, else `None` (unknown). */
const EXPIRY_TEMPLATE = "{{ value_json.token_expires_at if value_json.token_expires_at is defined else 'None' }}";
/** Claims are cleared with an empty message: read that as "no attributes". */
const CLAIMS_TEMPLATE = "{{ value if value | length > 0 else '{}' }}";

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '']);
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * The kiosk page's address for Home Assistant's "Visit" link: only while the page is served
 * (`web` in KIOSK_DISPLAY) and by a name another machine can open: the first of KIOSK_WEB_ALLOWED_HOSTS,
 * else KIOSK_WEB_HOST unless it is a wildcard or loopback (a loopback link would open the clicking
 * person's own machine). Undefined otherwise.
 */
export function kioskPageUrl(config: Pick<Config, 'displays' | 'web'>): string | undefined {
  if (!config.displays.includes('web') || config.web.port === 0) return undefined;
  const host = config.web.allowedHosts[0] ?? config.web.host.toLowerCase();
  if (WILDCARD_HOSTS.has(host) || LOOPBACK_HOSTS.has(host)) return undefined;
  const name = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${name}:${config.web.port}/`;
}

export function deviceDiscovery(d: DiscoveryInput): DiscoveryMessage {
  const id = `kiosk_agent_${d.deviceId}`;
  const press = JSON.stringify({ transaction: 'homeassistant' });
  const components: Record<string, Record<string, unknown>> = {
    sign_in_state: {
      platform: 'sensor',
      name: 'Sign-in state',
      icon: 'mdi:account-key',
      device_class: 'enum',
      options: [...STATES],
      state_topic: d.topics.state,
      value_template: '{{ value_json.state }}',
      json_attributes_topic: d.topics.claims,
      json_attributes_template: CLAIMS_TEMPLATE,
    },
    signed_in_user: {
      platform: 'sensor',
      name: 'Signed-in user',
      icon: 'mdi:account',
      state_topic: d.topics.state,
      value_template: USER_TEMPLATE,
    },
    token_expires: {
      platform: 'sensor',
      name: 'Token expires',
      device_class: 'timestamp',
      entity_category: 'diagnostic',
      state_topic: d.topics.state,
      value_template: EXPIRY_TEMPLATE,
    },
    refresh: {
      platform: 'button',
      name: 'Refresh sign-in',
      icon: 'mdi:refresh',
      entity_category: 'diagnostic',
      command_topic: d.topics.request('refresh'),
      payload_press: press,
    },
    sign_out: {
      platform: 'button',
      name: 'Sign out',
      icon: 'mdi:logout',
      command_topic: d.topics.request('sign_out'),
      payload_press: press,
    },
  };
  for (const [objectId, component] of Object.entries(components)) component.unique_id = `${id}_${objectId}`;
  const payload = {
    device: {
      identifiers: [id],
      name: d.deviceName === undefined || d.deviceName === d.deviceId ? `Kiosk ${d.deviceId}` : d.deviceName,
      ...(d.location === undefined ? {} : { suggested_area: d.location }),
      manufacturer: 'kiosk-agent',
      model: 'kiosk-agent',
      sw_version: d.version,
      ...(d.configurationUrl === undefined ? {} : { configuration_url: d.configurationUrl }),
    },
    origin: { name: 'kiosk-agent', sw_version: d.version },
    availability_topic: d.topics.availability,
    payload_available: 'online',
    payload_not_available: 'offline',
    qos: 1,
    components,
  };
  return { topic: deviceDiscoveryTopic(d.haPrefix, d.deviceId), payload: JSON.stringify(payload) };
}
