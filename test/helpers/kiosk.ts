import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { spawnAgent, removeDir } from './agent.js';
import type { AgentProcess } from './agent.js';
import { startBroker } from './broker.js';
import type { Broker, BrokerOptions, Observer } from './broker.js';
import { startTestIdp } from './idp.js';
import type { TestIdp } from './idp.js';
import { eventually } from './wait.js';

export const CLIENT_ID = 'kiosk-test-client';

export interface Kiosk {
  idp: TestIdp;
  agent: AgentProcess;
  /** The kiosk's own Mosquitto, and a client recording everything published on it. */
  broker: Broker;
  mqtt: Observer;
  /** Starts the agent again on the same cache directory (a reboot). */
  reboot(env?: Record<string, string>): Promise<AgentProcess>;
  /** Every agent process started so far (the first, then each reboot). */
  agents: AgentProcess[];
  /** Scans everything emitted so far, plus `extra`, for issued tokens. */
  scanLeaks(extra?: ExtraText[]): Promise<LeakScan>;
}

export interface KioskOptions {
  idp?: Parameters<typeof startTestIdp>[0];
  env?: Record<string, string>;
  /** The authority the agent is given, when not the provider's own (e.g. a tenant-name alias). */
  authority?: (idp: TestIdp) => string;
  /** Set up faults before the agent boots. */
  before?: (idp: TestIdp) => Promise<unknown>;
  /** A command prefix the agent runs under, every boot (e.g. `privateHosts` for names the test resolves). */
  wrap?: (idp: TestIdp) => Promise<string[]>;
  /** Every boot runs the shipped bundle (`dist/main.js`). */
  bundle?: boolean;
  broker?: BrokerOptions;
  /** The broker URL the agent is given, when not its plain mqtt:// one. */
  mqttUrl?: (broker: Broker) => string;
}

/** The settings that point an agent at a test provider (trusting its CA) and broker. */
export function kioskEnv(idp: TestIdp, mqttUrl: string): Record<string, string> {
  return {
    NODE_EXTRA_CA_CERTS: idp.caFile,
    KIOSK_CLIENT_ID: CLIENT_ID,
    KIOSK_AUTHORITY: idp.authority,
    KIOSK_HTTP_TIMEOUT: '2',
    KIOSK_MQTT_URL: mqttUrl,
  };
}

/**
 * A local identity provider over HTTPS, a Mosquitto broker and the real agent process trusting
 * the provider's CA; all cleaned up after the test, and everything emitted scanned for tokens.
 */
export async function startKiosk(t: TestContext, o: KioskOptions = {}): Promise<Kiosk> {
  const idp = await startTestIdp({ deviceCodeInterval: 1, ...o.idp });
  const broker = await startBroker(o.broker);
  const mqtt = await broker.observe();
  await o.before?.(idp);
  const agents: AgentProcess[] = [];
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    ...kioskEnv(idp, o.mqttUrl?.(broker) ?? broker.url),
    ...(o.authority ? { KIOSK_AUTHORITY: o.authority(idp) } : {}),
    ...o.env,
    ...extra,
  });
  const wrap = await o.wrap?.(idp);
  const first = await spawnAgent({ env: env(), wrap, bundle: o.bundle });
  agents.push(first);
  t.after(async () => {
    for (const a of agents) await a.stop('SIGKILL');
    try {
      await assertNoLeaks(agents, idp, mqtt);
    } finally {
      await broker.dispose();
      await idp.close();
      await removeDir(first.dir);
    }
  });
  return {
    idp,
    broker,
    mqtt,
    agent: first,
    agents,
    scanLeaks: (extra) => scanForLeaks(agents, idp, mqtt, extra),
    async reboot(extra) {
      const next = await spawnAgent({ env: env(extra), dir: first.dir, wrap, bundle: o.bundle });
      agents.push(next);
      return next;
    },
  };
}

/**
 * Until the running agent has subscribed, a command is lost. It connects just after its first frame and,
 * on each connect, subscribes and then publishes `online` on the same connection: once the observer has
 * seen an `online` for every connect the agents logged, the broker has taken the subscription.
 */
async function subscribed(k: Kiosk): Promise<void> {
  const current = k.agents.at(-1);
  if (current === undefined) return;
  await current.waitForLog((l) => l.msg === 'MQTT connected', 20_000, 'the agent connected to its broker');
  const connects = k.agents.reduce((n, a) => n + a.logs().filter((l) => l.msg === 'MQTT connected').length, 0);
  await eventually(() => k.mqtt.on('kiosk/test-kiosk/availability').filter((m) => m.text === 'online').length >= connects, 10_000, 'online after the connect');
}

/** An operator command sent to the kiosk over its broker, and the response that answered it. */
export async function command(k: Kiosk, name: string, timeoutMs = 30_000): Promise<{ status: string; error?: { code: string } }> {
  await subscribed(k);
  const transaction = `t-${Math.random().toString(36).slice(2)}`;
  const from = k.mqtt.messages.length;
  k.mqtt.client.publish(`kiosk/test-kiosk/request/${name}`, JSON.stringify({ transaction }), { qos: 1 });
  const m = await k.mqtt.waitFor(`kiosk/test-kiosk/response/${name}`, (x) => x.text.includes(transaction), timeoutMs, from);
  return JSON.parse(m.text) as { status: string; error?: { code: string } };
}

/** A kiosk signed in: started, its first code approved (as `alice` unless told), `signed_in` reached. */
export async function signedInKiosk(t: TestContext, o: KioskOptions = {}, user?: string): Promise<Kiosk> {
  const k = await startKiosk(t, o);
  await approveNext(k.idp, user);
  await k.agent.waitForState('signed_in');
  return k;
}

/** Approves the first pending code and returns it. */
export async function approveNext(idp: TestIdp, user?: string): Promise<string> {
  const [code] = await idp.waitForPending();
  assert.ok(code, 'a pending device code');
  await idp.approve(code.user_code, user);
  return code.user_code;
}

/** Text the agent showed outside its process output: the kiosk web page, the framebuffer's words. */
export type ExtraText = [where: string, text: string];

export interface LeakScan {
  bytes: number;
  /** Where a token the provider issued was found (empty when none). */
  leaks: string[];
}

/**
 * CONTRACT §1: tokens never appear in what the agent emits. Every token and device code the provider
 * issued is looked for in stdout, stderr, every MQTT message, the agent's non-cache files and
 * any `extra` text (web page, framebuffer).
 */
export async function scanForLeaks(agents: AgentProcess[], idp: TestIdp, mqtt?: Observer, extra: ExtraText[] = []): Promise<LeakScan> {
  const secrets = (await idp.issued()).filter((s) => s.length >= 16);
  const texts: ExtraText[] = [...extra];
  for (const a of agents) {
    texts.push([`stdout of pid ${a.child.pid}`, a.stdout()], [`stderr of pid ${a.child.pid}`, a.stderr()]);
  }
  for (const m of mqtt?.messages ?? []) texts.push([`MQTT ${m.topic}`, `${m.topic}\n${m.text}`]);
  const dir = agents[0]?.dir;
  if (dir) {
    for (const name of await readdir(dir).catch(() => [])) {
      if (name.startsWith('token-cache.json')) continue; // the cache is where tokens belong
      texts.push([name, await readFile(join(dir, name), 'utf8').catch(() => '')]);
    }
  }
  const scan: LeakScan = { bytes: 0, leaks: [] };
  for (const [where, text] of texts) {
    scan.bytes += Buffer.byteLength(text);
    if (secrets.some((secret) => text.includes(secret))) scan.leaks.push(where);
  }
  return scan;
}

export async function assertNoLeaks(agents: AgentProcess[], idp: TestIdp, mqtt?: Observer): Promise<number> {
  const scan = await scanForLeaks(agents, idp, mqtt);
  assert.deepEqual(scan.leaks, [], 'a token issued by the provider appears in what the agent emitted');
  return scan.bytes;
}
