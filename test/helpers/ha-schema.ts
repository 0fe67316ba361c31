/**
 * The keys Home Assistant's MQTT integration accepts in a device-based discovery payload, vendored from
 * its own source (home-assistant/core, `homeassistant/components/mqtt/`), so a test can hold the kiosk's
 * payload against them. Abbreviations are not listed: the kiosk sends every key in full.
 *
 * - `schemas.py` at 0f5c1b547043f5395608e09de3dcf4b7cfafef3d (2024.11, device-based discovery):
 *   DEVICE_DISCOVERY_SCHEMA (`device`, `components`, `origin` required), MQTT_ENTITY_DEVICE_INFO_SCHEMA,
 *   MQTT_ORIGIN_INFO_SCHEMA (`name` required), COMPONENT_CONFIG_SCHEMA (`platform` required).
 * - `schemas.py` at c6ca7f5f416326437e8e652a5623aa5eff7b3d00: MQTT_ENTITY_COMMON_SCHEMA.
 * - `sensor.py` (the current _PLATFORM_SCHEMA_BASE and validate_sensor_state_and_device_class_config:
 *   `options` only with device_class `enum`, never with `state_class` or `unit_of_measurement`).
 * - `button.py` at 1ecdb9be82be2596c8145d2cf9a3ca3c6daf8d2a: PLATFORM_SCHEMA_MODERN (`command_topic` required).
 * - `config.py` MQTT_BASE_SCHEMA (`qos`, `encoding`) and MQTT_RO_SCHEMA (`state_topic`, `value_template`).
 */

const AVAILABILITY = ['availability', 'availability_mode', 'availability_template', 'availability_topic', 'payload_available', 'payload_not_available'];

export const DEVICE_DISCOVERY_KEYS = new Set([...AVAILABILITY, 'device', 'components', 'origin', 'state_topic', 'command_topic', 'qos', 'encoding']);
export const DEVICE_INFO_KEYS = new Set([
  'identifiers', 'connections', 'manufacturer', 'model', 'name', 'hw_version', 'serial_number', 'sw_version', 'via_device', 'suggested_area', 'configuration_url',
]);
export const ORIGIN_KEYS = new Set(['name', 'sw_version', 'support_url']);
const ENTITY_COMMON_KEYS = [
  ...AVAILABILITY, 'device', 'origin', 'enabled_by_default', 'entity_category', 'icon', 'json_attributes_topic', 'json_attributes_template', 'object_id', 'unique_id',
];
const BASE_KEYS = ['qos', 'encoding'];
export const PLATFORM_KEYS: Readonly<Record<string, ReadonlySet<string>>> = {
  sensor: new Set(['platform', ...BASE_KEYS, ...ENTITY_COMMON_KEYS, 'state_topic', 'value_template', 'device_class', 'expire_after', 'force_update',
    'last_reset_value_template', 'name', 'options', 'suggested_display_precision', 'state_class', 'unit_of_measurement']),
  button: new Set(['platform', ...BASE_KEYS, ...ENTITY_COMMON_KEYS, 'command_template', 'command_topic', 'device_class', 'name', 'payload_press', 'retain']),
};
/** homeassistant/helpers/entity.py ENTITY_CATEGORIES_SCHEMA; a sensor cannot be a `config` entity (entity_platform.py). */
export const ENTITY_CATEGORIES = new Set(['config', 'diagnostic']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const unknownKeys = (o: Obj, allowed: ReadonlySet<string>): string[] => Object.keys(o).filter((k) => !allowed.has(k));

/** Every way `payload` breaks the schema above, as readable lines; empty when Home Assistant accepts it. */
export function deviceDiscoveryProblems(payload: unknown): string[] {
  const problems: string[] = [];
  if (!isObj(payload)) return ['the payload is not a JSON object'];
  for (const k of unknownKeys(payload, DEVICE_DISCOVERY_KEYS)) problems.push(`unknown top-level key ${k}`);
  const { device, origin, components } = payload;
  if (!isObj(device)) problems.push('device is required');
  else {
    for (const k of unknownKeys(device, DEVICE_INFO_KEYS)) problems.push(`unknown device key ${k}`);
    if (!Array.isArray(device.identifiers) || device.identifiers.length === 0) problems.push('the device needs identifiers');
    if (device.configuration_url !== undefined && !/^https?:\/\/[^/]+\//.test(String(device.configuration_url))) problems.push('configuration_url is not an http(s) URL');
  }
  if (!isObj(origin)) problems.push('origin is required');
  else {
    for (const k of unknownKeys(origin, ORIGIN_KEYS)) problems.push(`unknown origin key ${k}`);
    if (typeof origin.name !== 'string') problems.push('origin.name is required');
  }
  if (!isObj(components) || Object.keys(components).length === 0) return [...problems, 'components is required'];
  for (const [id, c] of Object.entries(components)) {
    if (!isObj(c)) {
      problems.push(`${id}: not an object`);
      continue;
    }
    const allowed = PLATFORM_KEYS[String(c.platform)];
    if (allowed === undefined) {
      problems.push(`${id}: platform ${String(c.platform)} is not one this list covers`);
      continue;
    }
    for (const k of unknownKeys(c, allowed)) problems.push(`${id}: unknown ${String(c.platform)} key ${k}`);
    if (typeof c.unique_id !== 'string') problems.push(`${id}: unique_id is required for an entity`);
    if (c.entity_category !== undefined && !ENTITY_CATEGORIES.has(String(c.entity_category))) problems.push(`${id}: entity_category ${String(c.entity_category)}`);
    if (c.platform === 'sensor' && c.entity_category === 'config') problems.push(`${id}: a sensor cannot be a config entity`);
    if (c.platform === 'button' && typeof c.command_topic !== 'string') problems.push(`${id}: a button needs command_topic`);
    if (c.platform === 'sensor' && c.options !== undefined) {
      if (!Array.isArray(c.options) || c.options.length === 0) problems.push(`${id}: options must be a non-empty list`);
      if (c.device_class !== 'enum') problems.push(`${id}: options need device_class enum`);
      if (c.state_class !== undefined || c.unit_of_measurement !== undefined) problems.push(`${id}: options exclude state_class and unit_of_measurement`);
    }
  }
  return problems;
}
