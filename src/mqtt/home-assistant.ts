import type { MqttConfig } from '../config.js';
import type { Logger } from '../log.js';
import { deviceDiscovery, haStatusTopic, kioskPageUrl, legacyDiscoveryTopics, MIGRATE_PAYLOAD } from './discovery.js';
import type { Topics } from './topics.js';

export interface HomeAssistantDeps {
  readonly config: MqttConfig;
  readonly topics: Topics;
  readonly version: string;
  readonly log: Logger;
  /** Publishes one retained QoS 1 message on the current connection (nothing while offline). */
  readonly publishRetained: (topic: string, payload: string) => void;
  /** Home Assistant came online: the kiosk's availability again, besides the discovery config. */
  readonly onHomeAssistantOnline: () => void;
}

/**
 * The publisher's part with Home Assistant (KIOSK_HA_DISCOVERY): the device-based discovery config on
 * every connect and whenever Home Assistant comes online, and the hand-over of per-entity configs an
 * earlier version left retained. Inert while discovery is off.
 */
export class HomeAssistantLink {
  /** Per-entity discovery topics of earlier versions (empty unless discovery is on). */
  private readonly legacy: ReadonlySet<string>;
  private readonly status?: string;

  constructor(private readonly d: HomeAssistantDeps) {
    const { haDiscovery, haPrefix, deviceId } = d.config;
    this.legacy = new Set(haDiscovery ? legacyDiscoveryTopics(haPrefix, deviceId) : []);
    this.status = haDiscovery ? haStatusTopic(haPrefix) : undefined;
  }

  /** What to subscribe to besides the kiosk's requests: Home Assistant's status and the old per-entity configs. */
  subscriptions(): string[] {
    return this.status === undefined ? [] : [this.status, ...this.legacy];
  }

  /** On each connect: the device's config, when discovery is on. */
  connected(): void {
    if (this.status !== undefined) this.announce();
  }

  /** True when the message was Home Assistant's (status or an old config), handled here; false: not ours. */
  handle(topic: string, payload: Buffer, retained: boolean, stopping: boolean): boolean {
    if (this.legacy.has(topic)) {
      if (!stopping) this.migrateLegacy(topic, payload, retained);
      return true;
    }
    if (topic !== this.status) return false;
    if (!stopping && payload.toString().trim() === 'online') {
      this.d.log.info('Home Assistant is online; announcing again');
      this.announce();
      this.d.onHomeAssistantOnline();
    }
    return true;
  }

  private announce(): void {
    const { haPrefix, deviceId, deviceName, location, displays, web } = this.d.config;
    const configurationUrl = displays && web ? kioskPageUrl({ displays, web }) : undefined;
    const m = deviceDiscovery({ haPrefix, deviceId, deviceName, location, version: this.d.version, topics: this.d.topics, configurationUrl });
    this.d.publishRetained(m.topic, m.payload);
  }

  /**
   * A per-entity config retained from an earlier version (delivered on subscribing, so `retain` is set):
   * handed over as Home Assistant advises, `migrate_discovery` on the old topic, the device config again
   * (it now takes the entities over with their unique ids), then an empty retained message clears the old
   * topic. The kiosk's own messages come back without `retain` (or empty) and are ignored.
   */
  private migrateLegacy(topic: string, payload: Buffer, retained: boolean): void {
    if (!retained || payload.length === 0) return;
    // A hand-over cut short (the connection lost between its steps) leaves only the old topic to clear.
    if (payload.toString() === MIGRATE_PAYLOAD) return this.d.publishRetained(topic, '');
    this.d.log.info({ topic }, 'Home Assistant: moving a per-entity discovery config to device-based discovery');
    this.d.publishRetained(topic, MIGRATE_PAYLOAD);
    this.announce();
    this.d.publishRetained(topic, '');
  }
}
