/**
 * One process of `npm run bench:fleet`: FLEET_COUNT agents side by side, configured from this
 * process's KIOSK_* environment with their own device id and cache dir. FLEET_COUNT=0 is the
 * baseline process: same modules loaded, no agent. Driven over IPC by bench/fleet.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from '../src/agent.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import type { FromWorker, ToWorker } from './fleet-lib.js';

const first = Number(process.env.FLEET_FIRST ?? 0);
const count = Number(process.env.FLEET_COUNT ?? 0);
const dir = process.env.FLEET_DIR ?? '.';
const logFile = join(dir, `worker-${first}-${count}.log`);
const log = createLogger(process.env.KIOSK_LOG_LEVEL ?? 'warn', pino.destination({ dest: logFile, sync: true }));
const warnings: string[] = [];
const send = (m: FromWorker): Promise<void> =>
  new Promise((resolve) => (process.connected && process.send ? process.send(m, () => resolve()) : resolve()));

// Listener leaks and the like are what several agents per process would show first.
process.on('warning', (w) => {
  warnings.push(`${w.name}: ${w.message}`);
  log.warn({ warning: w.name }, w.message);
});
process.on('uncaughtException', (e) => {
  log.fatal({ err: e }, 'uncaught exception');
  process.exit(1);
});
process.on('unhandledRejection', (e) => {
  log.fatal({ err: e }, 'unhandled rejection');
  process.exit(1);
});

const agents: Agent[] = [];
let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(1), 10_000).unref();
  const results = await Promise.allSettled(agents.map((a) => a.stop()));
  const lines = readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
  const entries = lines.map((l) => JSON.parse(l) as { level?: string; msg?: string; reason?: unknown; code?: unknown });
  const reasons: Record<string, number> = {};
  for (const e of entries.filter((x) => x.level === 'warn')) {
    const key = `${e.msg} (${String(e.reason ?? e.code ?? '-')})`;
    reasons[key] = (reasons[key] ?? 0) + 1;
  }
  await send({
    type: 'stopped',
    failedStops: results.filter((r) => r.status === 'rejected').length,
    errorLines: entries.filter((e) => e.level === 'error' || e.level === 'fatal').length,
    warnReasons: reasons,
    warnings,
    sample: lines.filter((l) => /"level":"(error|fatal)"/.test(l)).slice(0, 3),
  });
  if (process.connected) process.disconnect();
  process.exit(0);
}

process.on('SIGTERM', () => void stop());
// The orchestrator went away: leave nothing behind.
process.on('disconnect', () => void stop());
process.on('message', (m: ToWorker) => {
  if (m.type !== 'measure') return;
  (globalThis as { gc?: () => void }).gc?.();
  void send({ type: 'rss', rss: process.memoryUsage().rss });
});

// The baseline must carry what every worker carries anyway: the modules the agent loads lazily
// (MQTT.js, jose) and fetch with TLS (undici loads on first use).
await Promise.all([import('mqtt'), import('jose')]);
await fetch(new URL('v2.0/.well-known/openid-configuration', process.env.KIOSK_AUTHORITY)).then((r) => r.text());

for (let i = first; i < first + count; i++) {
  const id = `fleet-${String(i).padStart(4, '0')}`;
  const env = { ...process.env, KIOSK_DEVICE_ID: id, KIOSK_CACHE_PATH: join(dir, id, 'token-cache.json') };
  agents.push(new Agent({ config: loadConfig({ env }).config, log, version: 'fleet-bench' }));
}
const t0 = performance.now();
await Promise.all(agents.map((a) => a.start()));
void send({ type: 'started', ms: performance.now() - t0 });
