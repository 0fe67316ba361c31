import { Auth } from './auth/auth.js';
import type { EarlyProvider } from './auth/early-provider.js';
import { systemClock, within } from './clock.js';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import { startDisplays } from './displays/index.js';
import { warmQrEncoder } from './displays/qr.js';
import { StatusFile } from './health.js';
import { kioskActions } from './kiosk-actions.js';
import { DEFAULT_TIMINGS, Lifecycle } from './lifecycle.js';
import type { Timings } from './lifecycle.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { MqttPublisher } from './mqtt/publisher.js';
import { Scheduler } from './schedule.js';
import { Machine } from './state.js';
import type { Snapshot } from './state.js';
import { TokenEndpoint } from './token-endpoint/server.js';
import type { EndpointLimits } from './token-endpoint/server.js';

/** The latest MQTT starts, when a restore has not reached its first frame by then. */
const FIRST_FRAME_WAIT_MS = 2_000;
/** The longest a first boot's MSAL waits for MQTT's first connection (its first poll is seconds away anyway). */
const MQTT_FIRST_WAIT_MS = 1_000;

export interface AgentDeps {
  config: Config;
  log: Logger;
  clock?: Clock;
  timings?: Timings;
  /** The terminal display's screen when KIOSK_TERMINAL is `-`. */
  stdout?: NodeJS.WritableStream;
  /** Reported in the MQTT state payload. */
  version?: string;
  /** The provider requests `kiosk-agent run` began before the agent's code loaded. */
  early?: EarlyProvider;
  /** Called once the first frame is drawn and, with MQTT, MQTT has connected (or given up waiting for it). */
  afterBoot?: () => void;
  /** The token endpoint's rate and connection limits (the benchmark lifts them). */
  tokenEndpointLimits?: Partial<EndpointLimits>;
}

/**
 * One kiosk: its state machine, sign-in, schedule, displays and status file, wired from a frozen
 * configuration. No module state, so several agents can share a process.
 */
export class Agent {
  readonly machine: Machine;
  private readonly auth: Auth;
  private readonly lifecycle: Lifecycle;
  private readonly scheduler: Scheduler;
  private readonly status: StatusFile;
  /** Absent when MQTT is off (`KIOSK_MQTT_URL=off`). */
  private readonly mqtt?: MqttPublisher;
  /** Absent unless KIOSK_TOKEN_LISTEN is set (CONTRACT §8). */
  private readonly tokenEndpoint?: TokenEndpoint;
  private readonly shutdown = new AbortController();
  private displays?: { stop(): Promise<void> };
  /** Absent unless KIOSK_METRICS=true. */
  private readonly metrics?: Metrics;
  private readonly log: Logger;
  private readonly mqttConnected: Promise<void>;

  constructor(private readonly d: AgentDeps) {
    const clock = d.clock ?? systemClock;
    this.log = d.log.child({ device_id: d.config.deviceId });
    this.machine = new Machine(clock);
    this.machine.on('listenerError', (e) => this.log.error({ err: e }, 'a state listener failed'));
    this.machine.on('state', (s) =>
      this.log.info({ state: s.state, detail: s.detail, error: s.error, retry_at: s.retryAt && new Date(s.retryAt).toISOString() }, 'state'),
    );
    this.machine.on('event', (e) => this.log.info(e, 'event'));
    let mqttUp: () => void = () => undefined;
    this.mqttConnected = new Promise<void>((resolve) => (mqttUp = resolve));
    this.auth = new Auth({
      config: d.config, log: this.log, clock, signal: this.shutdown.signal, early: d.early,
      // A code shown before MSAL loads reaches MQTT first: both loading at once would hold the publish back by MSAL's load.
      beforeMsal: () => this.mqttFirstConnection(),
    });
    const signOutCron = d.config.signOutCron;
    this.scheduler = new Scheduler({
      expression: d.config.refreshCron,
      timeZone: d.config.timeZone,
      clock,
      log: this.log,
      onDue: (reason) => {
        if (this.lifecycle.scheduledRefresh()) this.log.info({ reason }, 'refresh due');
      },
      signOut: signOutCron === undefined ? undefined : {
        expression: signOutCron,
        onDue: () => {
          this.lifecycle.signOutOnSchedule().then(
            (done) =>
              done
                ? this.log.info('signed out on schedule (KIOSK_SIGN_OUT_CRON)')
                : this.log.debug('sign-out due (KIOSK_SIGN_OUT_CRON); nobody is signed in, nothing to do'),
            (e: unknown) => this.log.error({ err: e }, 'scheduled sign-out failed'),
          );
        },
      },
    });
    this.lifecycle = new Lifecycle({
      machine: this.machine, auth: this.auth, schedule: this.scheduler, clock, log: this.log, timings: d.timings ?? DEFAULT_TIMINGS, signIn: d.config.signIn,
    });
    if (d.config.mqtt.enabled)
      this.mqtt = new MqttPublisher({
        config: d.config, machine: this.machine, operations: this.lifecycle, log: this.log, version: d.version ?? '0.0.0', clock,
        // MQTT comes up after the first frame: `kiosk-agent health` must not read the boot's "disconnected" for 30 s.
        onConnection: (status) => {
          if (status === 'connected') mqttUp();
          void this.status.confirm();
        },
      });
    const endpoint = d.config.tokenEndpoint;
    if (endpoint)
      this.tokenEndpoint = new TokenEndpoint({
        config: { ...d.config, tokenEndpoint: endpoint },
        source: this.auth,
        machine: this.machine,
        onIssued: (resource) => this.machine.record('token_issued', { resource }),
        log: this.log,
        now: () => clock.now(),
        limits: d.tokenEndpointLimits,
        onStatus: () => void this.status.confirm(),
      });
    this.status = new StatusFile({
      stateDir: d.config.stateDir, machine: this.machine, clock, log: this.log, mqttStatus: () => this.mqtt?.mqttStatus() ?? 'disabled',
      tokenEndpointStatus: () => this.tokenEndpoint?.status(),
      cache: d.config.remember ? 'file' : 'memory',
    });
    if (d.config.metrics)
      this.metrics = new Metrics({
        machine: this.machine, version: d.version ?? '0.0.0', deviceId: d.config.deviceId, now: () => clock.now(), mqttStatus: () => this.mqtt?.mqttStatus() ?? 'disabled',
      });
  }

  async start(): Promise<void> {
    this.displays = startDisplays(this.machine, {
      config: this.d.config, log: this.log, clock: this.d.clock ?? systemClock, stdout: this.d.stdout, actions: kioskActions(this.machine, this.lifecycle),
      metrics: this.metrics && (() => this.metrics!.text()),
    });
    // A first boot's code is on its way from the provider: the QR encoder's first, cold run happens
    // while the agent waits for it, once its requests are on the wire (run during a TLS handshake, it
    // would hold the handshake up). A code that came first pays it in its own QR, so none is wasted.
    const { deviceCode: earlyCode, sent } = this.d.early ?? {};
    if (earlyCode && sent) {
      let came = false;
      void earlyCode.then(() => (came = true));
      void sent.then(() => setImmediate(() => !came && this.machine.snapshot.state === 'starting' && warmQrEncoder()));
    }
    // MQTT.js is a third of the code a boot would load: it loads once the first frame is drawn, never
    // before it (the publisher still sends the boot's `starting` first when the broker answers).
    const later = this.afterFirstFrame(() => this.afterFirstFrameStarts());
    const tokenEndpoint = this.tokenEndpoint?.start();
    const status = this.status.start();
    await this.auth.start();
    this.scheduler.start();
    this.lifecycle.start();
    await Promise.all([status, tokenEndpoint, later]);
  }

  /**
   * MQTT, and the refresh cron, whose first next run costs Intl's first formatter. A code on screen goes
   * to MQTT first; the cron is ready long before anyone signs in. A sign-in restored before the first
   * frame was shown with its ahead-of-expiry refresh time alone: the cron's, when earlier, amends it
   * before MQTT publishes it.
   */
  private async afterFirstFrameStarts(): Promise<void> {
    const restored = this.machine.snapshot.state === 'signed_in';
    if (restored) this.startRefreshCron();
    await this.mqtt?.start();
    await this.mqttFirstConnection();
    this.d.afterBoot?.();
    // A restored sign-in may be on screen before MSAL loaded (auth.ts): it loads now, ahead of a kiosk app's first token.
    if (restored) this.auth.prepare();
    else this.startRefreshCron();
  }

  private startRefreshCron(): void {
    const next = this.scheduler.startRefreshCron();
    const shown = this.machine.snapshot;
    if (shown.state === 'signed_in' && next < (shown.nextRefreshAt ?? Infinity)) this.machine.amend({ nextRefreshAt: next });
  }

  /** MQTT's first connection, or MQTT_FIRST_WAIT_MS, whichever comes first; at once without MQTT. */
  private async mqttFirstConnection(): Promise<void> {
    if (this.mqtt) await within(this.mqttConnected, MQTT_FIRST_WAIT_MS, this.d.clock ?? systemClock);
  }

  /**
   * Runs `then` once the displays have drawn the first state that matters (a code, signed in, offline,
   * an error: anything past `starting` and `restoring`), or FIRST_FRAME_WAIT_MS after start when a
   * restore takes longer, so the screen never waits for code it does not need.
   */
  private afterFirstFrame(then: () => Promise<void>): Promise<void> {
    const clock = this.d.clock ?? systemClock;
    return new Promise<void>((resolve) => {
      const go = (stopped = false): void => {
        this.machine.off('state', onState);
        clock.clearTimeout(timer);
        // After the displays' own listeners have drawn this state; an agent stopped first never starts it.
        setImmediate(() => resolve(stopped ? undefined : then()));
      };
      const onState = (s: Snapshot): void => {
        if (s.state !== 'starting' && s.state !== 'restoring') go(s.state === 'stopped');
      };
      const timer = clock.setTimeout(go, FIRST_FRAME_WAIT_MS);
      this.machine.on('state', onState);
    });
  }

  /** CONTRACT §5: polling cancelled, `stopped` shown and published, cache flushed, `offline` published; the caller bounds the time. */
  async stop(): Promise<void> {
    // No token is handed out once stopping has begun.
    await this.tokenEndpoint?.stop();
    this.lifecycle.stop();
    await this.scheduler.stop();
    this.shutdown.abort();
    this.machine.go('stopped');
    await this.auth.flush();
    await this.mqtt?.stop();
    await Promise.allSettled([this.displays?.stop(), this.status.stop()]);
    this.metrics?.stop();
  }
}
