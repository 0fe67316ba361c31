import { setTimeout as delay } from 'node:timers/promises';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';

export type Phase = 'sign-in' | 'idle' | 'refresh' | 'broker restart' | 'stopping';

/**
 * The operator's view of the fleet on MQTT, the only source the bench trusts for states: live state
 * of every kiosk, refresh events, command responses, and the broker's own `$SYS` counters.
 */
export class FleetObserver {
  phase: Phase = 'sign-in';
  readonly live = new Map<string, { state: string; tokenExpiresAt: number }>();
  readonly codeShown = new Set<string>();
  readonly onlineAfterRestart = new Set<string>();
  readonly offlineAtStop = new Set<string>();
  readonly counts = { messages: 0, refreshOk: 0, refreshFailed: 0, commandOk: 0, commandError: 0 };
  /** `$SYS` PUBLISH messages received and uptime (s), as last seen before the broker restart. */
  readonly sys = { publishIn: 0, uptime: 0 };

  private constructor(
    readonly client: MqttClient,
    private readonly ids: readonly string[],
  ) {
    client.on('message', (topic, payload) => this.onMessage(topic, payload.toString()));
  }

  static async connect(url: string, ids: readonly string[]): Promise<FleetObserver> {
    const observer = new FleetObserver(await mqtt.connectAsync(url, { reconnectPeriod: 200 }), ids);
    const filters = ['kiosk/+/state', 'kiosk/+/availability', 'kiosk/+/events', 'kiosk/+/response/+', '$SYS/broker/publish/messages/received', '$SYS/broker/uptime'];
    await observer.client.subscribeAsync(filters, { qos: 1 });
    return observer;
  }

  signedIn(): number {
    return this.ids.filter((id) => this.live.get(id)?.state === 'signed_in').length;
  }

  /** e.g. `signed_in 990, offline 10` */
  summary(): string {
    const by = new Map<string, number>();
    for (const v of this.live.values()) by.set(v.state, (by.get(v.state) ?? 0) + 1);
    return [...by].map(([k, n]) => `${k} ${n}`).join(', ') || 'no state yet';
  }

  private onMessage(topic: string, text: string): void {
    if (topic.startsWith('$SYS/')) {
      if (topic.endsWith('/uptime')) this.sys.uptime = parseInt(text, 10);
      else if (this.phase !== 'broker restart' && this.phase !== 'stopping') this.sys.publishIn = Number(text);
      return;
    }
    this.counts.messages++;
    const [, id = '', kind] = topic.split('/');
    if (kind === 'availability') {
      if (this.phase === 'broker restart' && text === 'online') this.onlineAfterRestart.add(id);
      if (this.phase === 'stopping' && text === 'offline') this.offlineAtStop.add(id);
      return;
    }
    if (kind !== 'state' && kind !== 'events' && kind !== 'response') return;
    const body = JSON.parse(text) as { state?: string; token_expires_at?: string; event?: string; status?: string };
    if (kind === 'state' && body.state) {
      this.live.set(id, { state: body.state, tokenExpiresAt: Date.parse(body.token_expires_at ?? '') || 0 });
      if (body.state === 'awaiting_sign_in') this.codeShown.add(id);
    } else if (body.event === 'refresh_succeeded') this.counts.refreshOk++;
    else if (body.event === 'refresh_failed') this.counts.refreshFailed++;
    else if (body.status === 'ok') this.counts.commandOk++;
    else if (body.status === 'error') this.counts.commandError++;
  }
}

/**
 * What a subscriber connecting now gets as retained messages: kiosks whose retained state is not
 * `signed_in` (lost) and whose availability is not `online`. Waits for the burst, at most `timeoutMs`.
 */
export async function retainedNow(url: string, ids: readonly string[], timeoutMs: number): Promise<{ lost: number; notOnline: number }> {
  const state = new Map<string, string>();
  const availability = new Map<string, string>();
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  try {
    client.on('message', (topic, payload, packet) => {
      const [, id = '', kind] = topic.split('/');
      if (!packet.retain) return;
      if (kind === 'state') state.set(id, (JSON.parse(payload.toString()) as { state: string }).state);
      else availability.set(id, payload.toString());
    });
    await client.subscribeAsync(['kiosk/+/state', 'kiosk/+/availability'], { qos: 1 });
    const end = Date.now() + timeoutMs;
    while ((state.size < ids.length || availability.size < ids.length) && Date.now() < end) await delay(100);
  } finally {
    await client.endAsync(true);
  }
  return { lost: ids.filter((id) => state.get(id) !== 'signed_in').length, notOnline: ids.filter((id) => availability.get(id) !== 'online').length };
}
