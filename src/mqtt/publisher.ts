import type { Socket } from 'node:net';
import type { IClientPublishOptions, MqttClient, Store } from 'mqtt';
import { systemClock, within } from '../clock.js';
import type { Clock } from '../clock.js';
import type { MqttConfig } from '../config.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import type { AgentEvent, Claims, Machine, Snapshot } from '../state.js';
import { clientOptions, describeUrl } from './client-options.js';
import type { ConnectionTuning } from './client-options.js';
import { CommandHandler } from './commands.js';
import type { CommandLimits, Operations, RequestPacket } from './commands.js';
import { HomeAssistantLink } from './home-assistant.js';
import { claimsPayload, eventPayload, statePayload } from './payloads.js';
import type { AgentInfo } from './payloads.js';
import { kioskTopics } from './topics.js';
import type { Topics } from './topics.js';

export interface PublisherTuning extends ConnectionTuning {
  /** Upper bound of `stop()`: final state and `offline`, then the client ends (CONTRACT §5 leaves 5 s in all). */
  readonly stopTimeoutMs?: number;
  readonly clientId?: string;
}

export interface PublisherDeps {
  readonly config: MqttConfig;
  readonly machine: Machine;
  readonly operations: Operations;
  readonly log: Logger;
  readonly version: string;
  /** Time for the command timeout, the rate limit and the stop deadline; `now` overrides its `now()`. */
  readonly clock?: Clock;
  readonly now?: () => number;
  readonly tuning?: PublisherTuning;
  readonly limits?: Partial<CommandLimits>;
  /** Told when the connection comes up or goes down (the status file records it). */
  readonly onConnection?: (status: MqttStatus) => void;
}

export type MqttStatus = 'connected' | 'disconnected';

/**
 * CONTRACT §2 for one kiosk: a plain listener of the machine. Publishes only while connected and, on
 * every (re)connect, the latest availability, state and claims: nothing stale is queued for later.
 * `start()` never waits for the broker, so a broker that is down never delays sign-in.
 */
export class MqttPublisher {
  readonly topics: Topics;
  private readonly log: Logger;
  private readonly agent: AgentInfo;
  private client?: MqttClient;
  private commands?: CommandHandler;
  private online = false;
  private stopping = false;
  private lastError?: string;
  private lastState?: { payload: string; acked: Promise<void> };
  /** The boot's `starting`, until the first connect: operators see every restart, even one past before MQTT was up. */
  private boot?: Snapshot;
  /** Resolvers of publishes awaiting their acknowledgement on the current connection. */
  private readonly pending = new Set<() => void>();
  private readonly homeAssistant: HomeAssistantLink;
  private readonly clock: Clock;

  constructor(private readonly d: PublisherDeps) {
    this.clock = d.clock ?? systemClock;
    this.topics = kioskTopics(d.config.mqtt.prefix, d.config.deviceId);
    this.log = d.log.child({ module: 'mqtt' });
    this.homeAssistant = new HomeAssistantLink({
      config: d.config, topics: this.topics, version: d.version, log: this.log,
      publishRetained: (topic, payload) => void this.publish(topic, payload, { qos: 1, retain: true }),
      onHomeAssistantOnline: () => void this.publish(this.topics.availability, 'online', { qos: 1, retain: true }),
    });
    this.agent = { version: d.version, deviceId: d.config.deviceId, name: d.config.deviceName, location: d.config.location };
    // Noted now, not in start(): the agent starts MQTT only once its first frame is drawn, past `starting`.
    if (d.machine.snapshot.state === 'starting') this.boot = d.machine.snapshot;
  }

  /** For the health file. */
  mqttStatus(): MqttStatus {
    return this.online ? 'connected' : 'disconnected';
  }

  async start(): Promise<void> {
    if (this.client || this.commands) return;
    const { config, tuning = {} } = this.d;
    const url = describeUrl(config.mqtt.url);
    let options;
    try {
      options = clientOptions(config.mqtt, {
        clientId: tuning.clientId ?? `kiosk-agent_${config.mqtt.prefix.replaceAll('/', '_')}_${config.deviceId}`,
        will: { topic: this.topics.availability, payload: Buffer.from('offline'), qos: 1, retain: true },
      }, tuning);
    } catch (e) {
      this.log.error({ url, err: messageOf(e) }, 'MQTT is not started: cannot read its TLS files');
      return;
    }
    this.commands = new CommandHandler({
      topics: this.topics,
      snapshot: () => this.d.machine.snapshot,
      operations: this.d.operations,
      agent: this.agent,
      log: this.log,
      now: this.d.now ?? (() => this.clock.now()),
      clock: this.clock,
      limits: this.d.limits,
      respond: (topic, payload, qos, correlationData) =>
        void this.publish(topic, payload, { qos, retain: false, ...(correlationData ? { properties: { correlationData } } : {}) }),
    });
    this.d.machine.on('state', this.onState);
    this.d.machine.on('claims', this.onClaims);
    this.d.machine.on('event', this.onEvent);
    // MQTT.js takes a few hundred ms to load on a Pi: loaded here, not with the agent's code, so that
    // other commands never load it and the agent can overlap it with its own start-up.
    let mqtt;
    try {
      mqtt = await import('./mqtt-js.js');
    } catch (e) {
      this.log.error({ url, err: messageOf(e) }, 'MQTT is not started');
      return;
    }
    if (this.stopping) return;
    this.wire((this.client = mqtt.connect(config.mqtt.url, options)), url, mqtt.Store);
    this.log.info({ url, root: this.topics.root }, 'MQTT starting');
  }

  private wire(client: MqttClient, url: string, NewStore: typeof Store): void {
    client.on('connect', () => {
      // MQTT.js leaves Nagle on for TCP and TLS, so the small publishes after the CONNACK could wait on each
      // other's acknowledgements. Every reconnect brings a new socket. (ws sets it on its own socket.)
      (client.stream as Partial<Pick<Socket, 'setNoDelay'>>).setNoDelay?.(true);
      this.onConnect(url);
    });
    client.on('close', () => {
      // What was in flight on the lost connection is dropped, not replayed ahead of the fresh state:
      // every (re)connect publishes the latest availability, state and claims instead.
      const stale = client.outgoingStore;
      client.outgoingStore = new NewStore();
      stale.close(() => undefined);
      for (const done of this.pending) done();
      this.pending.clear();
      const was = this.online;
      if (was && !this.stopping) this.log.warn({ url }, 'MQTT disconnected; reconnecting');
      this.online = false;
      if (was) this.d.onConnection?.('disconnected');
    });
    client.on('error', (e) => {
      const message = messageOf(e);
      this.log[message === this.lastError || this.stopping ? 'debug' : 'warn']({ url, err: message }, 'MQTT connection problem');
      this.lastError = message;
    });
    client.on('message', (topic, payload, packet) => {
      if (!this.homeAssistant.handle(topic, payload, packet.retain, this.stopping)) this.onMessage(topic, { payload, properties: packet.properties });
    });
  }

  /** Final state and `offline`, then a clean end; never longer than `stopTimeoutMs`. */
  async stop(): Promise<void> {
    const client = this.client;
    if (this.stopping) return;
    this.stopping = true; // also stops a client that is still loading from ever connecting
    if (!client) return;
    this.d.machine.off('state', this.onState).off('claims', this.onClaims).off('event', this.onEvent);
    const clock = this.clock;
    const deadline = clock.now() + (this.d.tuning?.stopTimeoutMs ?? 2_000);
    if (this.online) {
      const state = this.stateMessage(this.d.machine.snapshot);
      const stateAcked = this.lastState?.payload === state ? this.lastState.acked : this.publish(this.topics.state, state, { qos: 1, retain: true });
      const offline = this.publish(this.topics.availability, 'offline', { qos: 1, retain: true });
      await within(Promise.all([stateAcked, offline]), deadline - clock.now(), clock);
    }
    const ended = await within(new Promise<void>((resolve) => client.end(false, {}, () => resolve())), deadline - clock.now(), clock);
    if (!ended) client.end(true);
    this.online = false;
    this.log.info('MQTT stopped');
  }

  private readonly onState = (s: Snapshot): void => {
    if (this.online) void this.publishState(s);
  };

  private readonly onClaims = (c: Claims | undefined): void => {
    if (this.online) void this.publish(this.topics.claims, claimsPayload(c), { qos: 1, retain: true });
  };

  private readonly onEvent = (e: AgentEvent): void => {
    if (this.online) void this.publish(this.topics.events, JSON.stringify(eventPayload(e)), { qos: 1, retain: false });
  };

  private onConnect(url: string): void {
    if (this.stopping) return;
    this.online = true;
    this.lastError = undefined;
    this.log.info({ url }, 'MQTT connected');
    this.d.onConnection?.('connected');
    // With discovery on, also the per-entity configs an earlier version may have left retained (migrated on arrival).
    const filters = [this.topics.requests, ...this.homeAssistant.subscriptions()];
    this.client?.subscribe(filters, { qos: 1 }, (e) => e && this.log.warn({ err: messageOf(e) }, 'MQTT subscribe failed'));
    this.homeAssistant.connected();
    void this.publish(this.topics.availability, 'online', { qos: 1, retain: true });
    // In order on one connection: the boot's marker first, so the retained state is still the latest.
    if (this.boot && this.boot !== this.d.machine.snapshot) void this.publishState(this.boot);
    this.boot = undefined;
    void this.publishState(this.d.machine.snapshot);
    void this.publish(this.topics.claims, claimsPayload(this.d.machine.claims), { qos: 1, retain: true });
  }

  private onMessage(topic: string, packet: RequestPacket): void {
    if (this.stopping) return;
    const command = this.topics.commandOf(topic);
    if (command === undefined || !this.commands) return;
    this.commands.handle(command, packet).catch((e: unknown) => this.log.error({ err: messageOf(e) }, 'command handling failed'));
  }

  private stateMessage(s: Snapshot): string {
    return JSON.stringify(statePayload(s, this.agent));
  }

  private publishState(s: Snapshot): Promise<void> {
    const payload = this.stateMessage(s);
    const acked = this.publish(this.topics.state, payload, { qos: 1, retain: true });
    this.lastState = { payload, acked };
    return acked;
  }

  /** Publishes now or not at all: resolves when acknowledged, or at once when offline or failed. */
  private publish(topic: string, payload: string, options: IClientPublishOptions): Promise<void> {
    const client = this.client;
    if (!client || !this.online) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.pending.delete(done);
        resolve();
      };
      this.pending.add(done);
      client.publish(topic, payload, options, (e) => {
        if (e) this.log.debug({ topic, err: messageOf(e) }, 'MQTT publish not acknowledged');
        done();
      });
    });
  }
}
