import type { AgentEvent, Machine } from './state.js';
import { STATES } from './state.js';

/**
 * `GET /metrics` (KIOSK_METRICS=true, served by the kiosk page's server): the agent in the Prometheus
 * text exposition format 0.0.4. Written here rather than with prom-client: a handful of gauges and
 * counters do not justify its 4.6 MiB of installed dependencies (over a quarter of the agent's own).
 *
 * Nothing secret and nobody's identity: no token, user code or claim, and the account is no label. The
 * only free-form label is a refresh failure's `reason`, which is an error code (`invalid_grant`,
 * `AADSTS700082`, `provider_unreachable`, …); anything else, or past the first few distinct ones, counts as `other`.
 */
export interface MetricsDeps {
  readonly machine: Machine;
  readonly version: string;
  readonly deviceId: string;
  readonly now: () => number;
  /** The broker connection; `disabled` with KIOSK_MQTT_URL=off (then the gauge is left out). */
  readonly mqttStatus: () => 'connected' | 'disconnected' | 'disabled';
}

const MAX_REASONS = 32;
const REASON = /^[A-Za-z0-9_.:-]{1,64}$/;

/** A label value as the format wants it: backslash, double quote and newline escaped. */
const label = (value: string): string => value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');

export class Metrics {
  private refreshSucceeded = 0;
  private readonly refreshFailed = new Map<string, number>();
  private codesIssued = 0;

  constructor(private readonly d: MetricsDeps) {
    d.machine.on('event', this.onEvent);
  }

  stop(): void {
    this.d.machine.off('event', this.onEvent);
  }

  private readonly onEvent = (e: AgentEvent): void => {
    if (e.event === 'code_issued') this.codesIssued += 1;
    else if (e.event === 'refresh_succeeded') this.refreshSucceeded += 1;
    else if (e.event === 'refresh_failed') {
      const given = typeof e.reason === 'string' && REASON.test(e.reason) ? e.reason : 'other';
      const reason = this.refreshFailed.has(given) || this.refreshFailed.size < MAX_REASONS ? given : 'other';
      this.refreshFailed.set(reason, (this.refreshFailed.get(reason) ?? 0) + 1);
    }
  };

  /** The exposition, one `# HELP` and `# TYPE` per metric family. */
  text(): string {
    const s = this.d.machine.snapshot;
    const out: string[] = [];
    const family = (name: string, type: 'gauge' | 'counter', help: string, samples: Array<[labels: string, value: number]>): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples.map(([l, v]) => `${name}${l} ${v}`));
    };
    family('kiosk_agent_info', 'gauge', 'The agent: its version and device id.', [
      [`{version="${label(this.d.version)}",device_id="${label(this.d.deviceId)}"}`, 1],
    ]);
    family('kiosk_agent_state', 'gauge', 'The sign-in state: 1 for the current one, 0 for the others.', STATES.map((state) => [`{state="${state}"}`, s.state === state ? 1 : 0]));
    family('kiosk_agent_state_since_seconds', 'gauge', 'When the current state was entered (Unix time).', [['', s.since / 1000]]);
    if (s.state === 'signed_in' && s.tokenExpiresAt !== undefined)
      family('kiosk_agent_token_expiry_seconds', 'gauge', 'Seconds until the access token expires (while signed in).', [['', Math.round((s.tokenExpiresAt - this.d.now()) / 1000)]]);
    family('kiosk_agent_refreshes_total', 'counter', 'Silent refreshes that succeeded.', [['', this.refreshSucceeded]]);
    family('kiosk_agent_refresh_failures_total', 'counter', 'Refresh attempts that failed, by the error code.', [...this.refreshFailed].map(([reason, n]) => [`{reason="${label(reason)}"}`, n]));
    family('kiosk_agent_codes_issued_total', 'counter', 'Device codes put on screen.', [['', this.codesIssued]]);
    const mqtt = this.d.mqttStatus();
    if (mqtt !== 'disabled') family('kiosk_agent_mqtt_connected', 'gauge', '1 while the MQTT broker is connected.', [['', mqtt === 'connected' ? 1 : 0]]);
    return `${out.join('\n')}\n`;
  }
}
