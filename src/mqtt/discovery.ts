import type { Topics } from './topics.js';

/**
 * Home Assistant MQTT discovery (SPEC §2, `KIOSK_HA_DISCOVERY`): one retained config message per
 * entity on `<ha_prefix>/<component>/<device_id>/<object_id>/config`, all tied to one device with
 * an `origin` block and this kiosk's availability topic.
 */
export interface DiscoveryInput {
  readonly haPrefix: string;
  readonly deviceId: string;
  /** KIOSK_DEVICE_NAME (the device id when unset), and KIOSK_LOCATION as Home Assistant's suggested area. */
  readonly deviceName?: string;
  readonly location?: string;
  readonly version: string;
  readonly topics: Topics;
}

export interface DiscoveryMessage {
  readonly topic: string;
  readonly payload: string;
}

/** Home Assistant announces itself here (`online` / `offline`); `online` means "announce again". */
export const haStatusTopic = (haPrefix: string): string => `${haPrefix}/status`;

/** The signed-in user's display name (or username) while signed in; empty otherwise. */
const USER_TEMPLATE =
  "{% if value_json.state == 'signed_in' and value_json.account is defined %}" +
  '{{ value_json.account.name | default(value_json.account.username) }}{% endif %}';
/** Claims are cleared with an empty message: read that as "no attributes". */
const CLAIMS_TEMPLATE = "{{ value if value | length > 0 else '{}' }}";

export function discoveryMessages(d: DiscoveryInput): DiscoveryMessage[] {
  const id = `kiosk_agent_${d.deviceId}`;
  const common = {
    availability_topic: d.topics.availability,
    payload_available: 'online',
    payload_not_available: 'offline',
    device: {
      identifiers: [id],
      name: d.deviceName === undefined || d.deviceName === d.deviceId ? `Kiosk ${d.deviceId}` : d.deviceName,
      ...(d.location === undefined ? {} : { suggested_area: d.location }),
      manufacturer: 'kiosk-agent',
      model: 'kiosk-agent',
      sw_version: d.version,
    },
    origin: { name: 'kiosk-agent', sw_version: d.version },
    qos: 1,
  };
  const press = JSON.stringify({ transaction: 'homeassistant' });
  const entities: Array<[component: string, objectId: string, config: Record<string, unknown>]> = [
    ['sensor', 'sign_in_state', {
      name: 'Sign-in state',
      icon: 'mdi:account-key',
      state_topic: d.topics.state,
      value_template: '{{ value_json.state }}',
      json_attributes_topic: d.topics.claims,
      json_attributes_template: CLAIMS_TEMPLATE,
    }],
    ['sensor', 'signed_in_user', {
      name: 'Signed-in user',
      icon: 'mdi:account',
      state_topic: d.topics.state,
      value_template: USER_TEMPLATE,
    }],
    ['button', 'refresh', {
      name: 'Refresh sign-in',
      icon: 'mdi:refresh',
      command_topic: d.topics.request('refresh'),
      payload_press: press,
    }],
    ['button', 'sign_out', {
      name: 'Sign out',
      icon: 'mdi:logout',
      command_topic: d.topics.request('sign_out'),
      payload_press: press,
    }],
  ];
  return entities.map(([component, objectId, config]) => ({
    topic: `${d.haPrefix}/${component}/${d.deviceId}/${objectId}/config`,
    payload: JSON.stringify({ ...config, unique_id: `${id}_${objectId}`, ...common }),
  }));
}
