/** CONTRACT §2: every topic of one kiosk lives under `<prefix>/<device_id>`. */
export const COMMAND_NAMES = ['refresh', 'sign_out', 'restart_sign_in', 'status'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export interface Topics {
  readonly root: string;
  readonly availability: string;
  readonly state: string;
  readonly claims: string;
  readonly events: string;
  /** Subscription filter for every command addressed to this kiosk. */
  readonly requests: string;
  request(command: string): string;
  response(command: string): string;
  /** True for a topic under this kiosk's own `response/` (CONTRACT §2: the only MQTT 5 response topics it answers on). */
  isOwnResponseTopic(topic: string): boolean;
  /** The command name of a request topic, or undefined when the topic is not one of this kiosk's requests. */
  commandOf(topic: string): string | undefined;
}

export function kioskTopics(prefix: string, deviceId: string): Topics {
  const root = `${prefix}/${deviceId}`;
  const requestRoot = `${root}/request/`;
  const responseRoot = `${root}/response/`;
  return Object.freeze({
    root,
    availability: `${root}/availability`,
    state: `${root}/state`,
    claims: `${root}/claims`,
    events: `${root}/events`,
    requests: `${requestRoot}+`,
    request: (command: string) => `${requestRoot}${command}`,
    response: (command: string) => `${responseRoot}${command}`,
    isOwnResponseTopic: (topic: string) => topic.length > responseRoot.length && topic.startsWith(responseRoot) && isPublishableTopic(topic),
    commandOf: (topic: string) => {
      if (!topic.startsWith(requestRoot)) return undefined;
      const name = topic.slice(requestRoot.length);
      return name === '' || name.includes('/') ? undefined : name;
    },
  });
}

/** Filters an operator subscribes to for a whole fleet, and the device id of a topic they match. */
export interface FleetTopics {
  readonly state: string;
  readonly availability: string;
  /** `{device, kind}` for `<prefix>/<device>/state|availability`, else undefined. */
  parse(topic: string): { device: string; kind: 'state' | 'availability' } | undefined;
}

export function fleetTopics(prefix: string): FleetTopics {
  const head = `${prefix}/`;
  return Object.freeze<FleetTopics>({
    state: `${head}+/state`,
    availability: `${head}+/availability`,
    parse: (topic: string) => {
      if (!topic.startsWith(head)) return undefined;
      const parts = topic.slice(head.length).split('/');
      const [device, kind] = parts;
      if (parts.length !== 2 || !device || (kind !== 'state' && kind !== 'availability')) return undefined;
      return { device, kind };
    },
  });
}

/** A topic MQTT allows us to publish to: non-empty, no wildcards, no NUL, within the length limit. */
export function isPublishableTopic(topic: unknown): topic is string {
  return typeof topic === 'string' && topic.length > 0 && Buffer.byteLength(topic) <= 65_535 && !/[+#\0]/.test(topic);
}
