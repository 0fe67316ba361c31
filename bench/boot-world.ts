/**
 * What the boot benches run against: the local identity provider (through the round-trip relay, given a
 * round trip) and a Mosquitto on a free port, with a subscriber noting when each kiosk's code was first
 * retained on `kiosk/<id>/state`.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import mqtt from 'mqtt';
import { startIdp } from '../src/idp/server.js';
import type { Idp } from '../src/idp/types.js';
import { startRoundTripProxy } from './round-trip-proxy.js';

export interface BootWorld {
  readonly idp: Idp;
  /** The authority kiosks are given: the provider's own, or the relay's. */
  readonly authority: string;
  readonly brokerUrl: string;
  /** `performance.now()` when a state with a user code was first retained, by topic. */
  readonly codeRetainedAt: ReadonlyMap<string, number>;
  /** A benched agent's environment but its kiosk's id and files: this provider and broker, no refresh while measured. */
  readonly agentBaseEnv: Readonly<Record<string, string>>;
  /** The agent's environment for kiosk `id`, its files in `at`. */
  agentEnv(id: string, at: string): Record<string, string>;
  close(): Promise<void>;
}

export async function startBootWorld(dir: string, o: { delayMs: number; rttMs: number }): Promise<BootWorld> {
  const idp = await startIdp({ dir: join(dir, 'idp'), delayMs: o.delayMs });
  // The provider answers with the origin it was reached at: through the relay, every URL it names leads back through it.
  const proxy = o.rttMs > 0 ? await startRoundTripProxy({ host: '127.0.0.1', port: idp.port }, o.rttMs) : undefined;
  const authority = proxy ? idp.authority.replace(`:${idp.port}/`, `:${proxy.port}/`) : idp.authority;
  const brokerPort = 20_000 + Math.floor(Math.random() * 20_000);
  await writeFile(join(dir, 'mosquitto.conf'), `listener ${brokerPort} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const broker = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
  await delay(500);
  const brokerUrl = `mqtt://127.0.0.1:${brokerPort}`;
  const subscriber = await mqtt.connectAsync(brokerUrl);
  const codeRetainedAt = new Map<string, number>();
  subscriber.on('message', (topic, payload) => {
    const state = payload.length > 0 ? (JSON.parse(payload.toString()) as { user_code?: string }) : {};
    if (state.user_code && !codeRetainedAt.has(topic)) codeRetainedAt.set(topic, performance.now());
  });
  await subscriber.subscribeAsync('kiosk/+/state');
  const agentBaseEnv = {
    NODE_EXTRA_CA_CERTS: idp.caFile, KIOSK_CLIENT_ID: 'bench', KIOSK_AUTHORITY: authority, KIOSK_MQTT_URL: brokerUrl,
    KIOSK_REFRESH_CRON: '0 0 1 1 *', KIOSK_LOG_LEVEL: 'warn',
  };
  return {
    idp, authority, brokerUrl, codeRetainedAt, agentBaseEnv,
    agentEnv: (id, at) => ({ ...agentBaseEnv, KIOSK_DEVICE_ID: id, KIOSK_CACHE_PATH: join(at, 'token-cache.json') }),
    async close() {
      await subscriber.endAsync();
      broker.kill('SIGTERM');
      await proxy?.close();
      await idp.close();
    },
  };
}
