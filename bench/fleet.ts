/**
 * `npm run bench:fleet -- --kiosks N [--processes W]`: a fleet of N agents, N/W per process, against
 * one Mosquitto and one local identity provider on loopback, all booting at once. Codes are approved
 * through the control API as they appear; then idle memory and CPU against a process with no agent,
 * refreshes on short-lived tokens, a broker restart, a graceful stop. States are read from MQTT and
 * polling gaps from the provider's request log, never from the workers. Prints one table; exits 1
 * when a must-be-zero figure is not zero, 2 when the run outlasts --time-limit seconds.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { MqttClient } from 'mqtt';
import type { PendingCode } from '../src/idp/device-flow.js';
import type { RequestEntry } from '../src/idp/types.js';
import { startBroker } from '../test/helpers/broker.js';
import type { Broker } from '../test/helpers/broker.js';
import { eachLimited, fastPolls, markdownTable, spawnTs } from './fleet-lib.js';
import { FleetObserver, retainedNow } from './fleet-observer.js';
import type { Child } from './fleet-lib.js';
import { control, cpuSeconds } from './lib.js';

const { values: opt } = parseArgs({
  options: {
    kiosks: { type: 'string' },
    processes: { type: 'string' },
    'approve-after': { type: 'string', default: '0' },
    'idle-seconds': { type: 'string', default: '20' },
    'refresh-seconds': { type: 'string', default: '60' },
    'token-seconds': { type: 'string', default: '20' },
    'time-limit': { type: 'string', default: '600' },
    keep: { type: 'boolean', default: false },
  },
});
const N = Number(opt.kiosks);
if (!Number.isInteger(N) || N < 1) {
  console.error('usage: npm run bench:fleet -- --kiosks N [--processes W] [--approve-after 0] [--idle-seconds 20] [--refresh-seconds 60] [--token-seconds 20] [--time-limit 600] [--keep]');
  process.exit(78);
}
const W = Math.min(N, Number(opt.processes ?? (N <= 200 ? 4 : 8)));
const [APPROVE_AFTER_S, IDLE_S, REFRESH_S, TOKEN_S, LIMIT_S] = [opt['approve-after'], opt['idle-seconds'], opt['refresh-seconds'], opt['token-seconds'], opt['time-limit']].map(Number) as [number, number, number, number, number];
const POLL_TOLERANCE = 0.05;
const MiB = 2 ** 20;
const ids = Array.from({ length: N }, (_, i) => `fleet-${String(i).padStart(4, '0')}`);

const dir = await mkdtemp(join(tmpdir(), 'kiosk-fleet-'));
let broker: Broker | undefined;
let idp: Child | undefined;
let workers: Child[] = [];
let baseline: Child | undefined;
const clients: MqttClient[] = [];
let tornDown: Promise<void> | undefined;
let approverFailure: unknown;
let progress: NodeJS.Timeout | undefined;
const teardown = (): Promise<void> =>
  (tornDown ??= (async () => {
    await Promise.allSettled([...workers, baseline].map((w) => w?.stop(12_000)));
    await Promise.allSettled(clients.map((c) => c.endAsync(true)));
    await Promise.allSettled([idp?.stop(5_000), broker?.dispose()]);
    // --keep: the agents' logs (at info), the provider's request log and data stay for a look.
    if (opt.keep) console.error(`fleet: kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  })());
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    clearInterval(progress);
    void teardown().finally(() => process.exit(130));
  });
const limit = setTimeout(() => {
  console.error(`fleet: not finished within ${LIMIT_S} s; stopping everything`);
  clearInterval(progress);
  void teardown().finally(() => process.exit(2));
}, LIMIT_S * 1000);

async function until(done: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (approverFailure !== undefined) throw approverFailure;
    if (Date.now() > end) throw new Error(`${what()}: not within ${timeoutMs / 1000} s`);
    await delay(100);
  }
}
const seconds = (from: number): number => (performance.now() - from) / 1000;

try {
  // Provider and broker -----------------------------------------------------------------------
  idp = spawnTs('bench/fleet-idp.ts', [join(dir, 'idp'), join(dir, 'requests.jsonl')], {});
  const provider = JSON.parse(await idp.firstLine(30_000)) as { authority: string; ca_file: string; control_url: string };
  broker = await startBroker();
  const t0 = performance.now();

  // A line every 10 s on stderr: where a long run is, and where it stuck if it hits the time limit.
  const view = await FleetObserver.connect(broker.url, ids);
  clients.push(view.client);
  const { counts } = view;
  progress = setInterval(() => {
    console.error(`fleet: ${seconds(t0).toFixed(0)} s, ${view.phase}: ${view.summary()}; refreshes ${counts.refreshOk} ok ${counts.refreshFailed} failed`);
  }, 10_000);

  // Boot: every agent at once, W processes plus a baseline process with none ------------------
  const env = {
    NODE_EXTRA_CA_CERTS: provider.ca_file,
    KIOSK_CLIENT_ID: 'fleet-bench',
    KIOSK_AUTHORITY: provider.authority,
    KIOSK_MQTT_URL: broker.url,
    KIOSK_DISPLAY: 'terminal',
    KIOSK_TERMINAL: '/dev/null',
    KIOSK_LOG_LEVEL: opt.keep ? 'info' : 'warn',
    // Refresh is driven by the provider's token lifetime below; no quarter-hour cron inside the run.
    KIOSK_REFRESH_CRON: '0 0 1 1 *',
    FLEET_DIR: dir,
  };
  const slice = (w: number): number => Math.floor((N * w) / W);
  workers = Array.from({ length: W }, (_, w) =>
    spawnTs('bench/fleet-worker.ts', [], { ...env, FLEET_FIRST: String(slice(w)), FLEET_COUNT: String(slice(w + 1) - slice(w)) }, ['--expose-gc']),
  );
  baseline = spawnTs('bench/fleet-worker.ts', [], { ...env, FLEET_COUNT: '0' }, ['--expose-gc']);
  const started = Promise.all([...workers, baseline].map((w) => w.next('started', 120_000)));

  // The operator approves each code as it appears, or once it is --approve-after seconds old (a person
  // typing it; the agent polls meanwhile). Intervals are kept for the polling check.
  const intervals = new Map<string, number>();
  let approving = true;
  const approver = (async () => {
    while (approving) {
      const pending = (await control(provider.control_url, 'pending')) as PendingCode[];
      for (const p of pending) intervals.set(p.code_id, p.interval);
      const due = pending.filter((p) => Date.parse(p.created_at) <= Date.now() - APPROVE_AFTER_S * 1000);
      await eachLimited(due, 8, (p) => control(provider.control_url, 'approve', { user_code: p.user_code }));
      await delay(250);
    }
  })().catch((e: unknown) => {
    approverFailure = e;
  });
  let upS = NaN;
  void started.then(() => (upS = seconds(t0)), () => undefined);
  await until(() => view.codeShown.size === N || view.signedIn() === N, LIMIT_S * 1000, () => `every code on MQTT (${view.summary()})`);
  const codesS = seconds(t0);
  await until(() => view.signedIn() === N, LIMIT_S * 1000, () => `all ${N} signed in (${view.summary()})`);
  const signedInS = seconds(t0);
  approving = false;
  await approver;
  const startMs = Math.max(...(await started).map((s) => s.ms));

  // Signed in and idle: memory against the baseline process, then CPU -------------------------
  view.phase = 'idle';
  await delay(5_000);
  const rssOf = async (c: Child): Promise<number> => {
    const reply = c.next('rss', 30_000);
    c.process.send({ type: 'measure' });
    return (await reply).rss;
  };
  const baseRss = await rssOf(baseline);
  const workerRss = await Promise.all(workers.map(rssOf));
  const memPerAgent = (workerRss.reduce((a, b) => a + b, 0) - W * baseRss) / N / MiB;
  const pids = [baseline.pid, ...workers.map((w) => w.pid)];
  const cpu0 = await Promise.all(pids.map(cpuSeconds));
  await delay(IDLE_S * 1000);
  const cpu = (await Promise.all(pids.map(cpuSeconds))).map((c, i) => c - cpu0[i]!);
  const cpuPerAgent = (cpu.slice(1).reduce((a, b) => a + b, 0) - W * cpu[0]!) / N / IDLE_S;

  // Compressed refresh: short-lived tokens, kicked off by the operator's `refresh` command --------
  view.phase = 'refresh';
  await control(provider.control_url, 'faults', { access_token_expires_in: TOKEN_S });
  const r0 = performance.now();
  const rWall = Date.now();
  const busy = (): Promise<number[]> => Promise.all([idp!.pid, ...workers.map((w) => w.pid)].map(cpuSeconds));
  const busy0 = await busy();
  Object.assign(counts, { refreshOk: 0, refreshFailed: 0 });
  for (const [i, id] of ids.entries()) {
    await view.client.publishAsync(`kiosk/${id}/request/refresh`, '{}', { qos: 1 });
    if (i % Math.ceil(N / 50) === 0) await delay(100); // the first refreshes spread over ~5 s
  }
  await delay(Math.max(0, REFRESH_S * 1000 - (performance.now() - r0)));
  await control(provider.control_url, 'faults', { access_token_expires_in: 3600 });
  await until(() => ids.every((id) => (view.live.get(id)?.tokenExpiresAt ?? 0) > Date.now() + 1_800_000), (TOKEN_S + 120) * 1000, () => `every kiosk back on hour-long tokens (${view.summary()})`);
  const refreshS = seconds(r0);
  const rWallEnd = Date.now();
  const [idpBusy = 0, ...workerBusy] = (await busy()).map((c, i) => c - busy0[i]!);
  const refreshed = { ...counts };

  // Broker restart: retained state must come back from the agents alone ------------------------
  const sysBefore = { ...view.sys };
  view.phase = 'broker restart';
  const b0 = performance.now();
  await broker.restart();
  await until(() => view.onlineAfterRestart.size === N, 120_000, () => `all online again after the broker restart (${view.onlineAfterRestart.size} are)`);
  const reconnectS = seconds(b0);
  await delay(2_000);
  const { lost: retainedLost, notOnline } = await retainedNow(broker.url, ids, 10_000);

  // Graceful stop, then the provider's request log -------------------------------------------
  const runS = seconds(t0);
  const idpCpu = await cpuSeconds(idp.pid);
  view.phase = 'stopping';
  const reports = workers.map((w) => w.next('stopped', 15_000));
  await Promise.all(workers.map((w) => w.stop(12_000)));
  const stopped = await Promise.all(reports);
  await delay(500);
  await idp.stop(5_000);
  const requests = (await readFile(join(dir, 'requests.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as RequestEntry);
  const polls = fastPolls(requests, (code) => intervals.get(code) ?? 5, POLL_TOLERANCE);
  const inRefresh = requests.filter((e) => e.at >= rWall && e.at <= rWallEnd);
  const refreshGrants = requests.filter((e) => e.grant_type === 'refresh_token');
  const errorLines = stopped.reduce((a, s) => a + s.errorLines, 0);
  const warnings = stopped.flatMap((s) => s.warnings);

  const f = (x: number, d = 1) => x.toFixed(d);
  const rows: Array<[string, string]> = [
    ['kiosks (N)', String(N)],
    ['processes (agents each)', `${W} (${f(N / W, 0)})`],
    ['processes up, every agent started (s; slowest agent.start() loop)', `${f(upS)} (${f(startMs / 1000)})`],
    ['time until every code was on MQTT (s)', f(codesS)],
    [`time until all signed in (s${APPROVE_AFTER_S > 0 ? `, codes approved ${APPROVE_AFTER_S} s old` : ''})`, f(signedInS)],
    ['retained states lost after broker restart (must be 0)', String(retainedLost)],
    ['availability not online after broker restart (must be 0)', String(notOnline)],
    ['broker restart → all online again (s)', f(reconnectS)],
    ['polls faster than interval (must be 0)', `${polls.tooFast} of ${polls.gaps} gaps, ${polls.codes} codes; slow_down ${polls.slowDown}`],
    [`refreshes in ${f(refreshS, 0)} s with ${TOKEN_S} s tokens (ok / failed)`, `${refreshed.refreshOk} / ${refreshed.refreshFailed}`],
    ['refresh grants at the provider (200 / other)', `${refreshGrants.filter((e) => e.status === 200).length} / ${refreshGrants.filter((e) => e.status !== 200).length}`],
    ['operator refresh commands (ok / error)', `${refreshed.commandOk} / ${refreshed.commandError}`],
    ['broker messages/s (subscriber saw, whole run)', f(counts.messages / runS)],
    ['broker PUBLISH in/s ($SYS, until restart)', sysBefore.uptime > 0 ? f(sysBefore.publishIn / sysBefore.uptime) : 'n/a'],
    ['provider requests/s (whole run / refresh phase)', `${f(requests.length / runS)} / ${f(inRefresh.length / refreshS)}`],
    ['provider CPU (s of one core, whole run)', `${f(idpCpu)} of ${f(runS, 0)}`],
    ['CPU in the refresh phase (core-s: agents / provider)', `${f(workerBusy.reduce((a, b) => a + b, 0))} / ${f(idpBusy)} in ${f(refreshS, 0)} s`],
    ['memory per instance (MiB RSS, signed in)', `${f(memPerAgent, 2)} (baseline process ${f(baseRss / MiB, 0)})`],
    [`CPU per instance idle (% of a core, ${IDLE_S} s)`, f(cpuPerAgent * 100, 3)],
    ['offline published on SIGTERM (stop() failures)', `${view.offlineAtStop.size} / ${N} (${stopped.reduce((a, x) => a + x.failedStops, 0)})`],
    ['error log lines (must be 0)', String(errorLines)],
    ['process warnings (must be 0)', String(warnings.length)],
  ];
  console.log(`\nfleet of ${N} (node ${process.version}, ${process.arch})\n\n${markdownTable(rows)}\n`);
  const reasons = new Map<string, number>();
  for (const [k, n] of stopped.flatMap((x) => Object.entries(x.warnReasons))) reasons.set(k, (reasons.get(k) ?? 0) + n);
  if (reasons.size > 0) console.log(`agents' warnings: ${[...reasons].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, n]) => `${n}× ${k}`).join('; ')}\n`);
  for (const w of [...new Set(warnings)].slice(0, 5)) console.error(`warning: ${w}`);
  for (const line of stopped.flatMap((s) => s.sample).slice(0, 5)) console.error(`error line: ${line}`);
  process.exitCode = retainedLost + notOnline + polls.tooFast + errorLines + warnings.length > 0 ? 1 : 0;
} catch (e) {
  console.error(`fleet: ${e instanceof Error ? e.message : String(e)}`);
  for (const w of [...workers, baseline, idp]) if (w?.stderr()) console.error(`pid ${w.pid}: ${w.stderr().slice(-800)}`);
  process.exitCode = 1;
} finally {
  clearTimeout(limit);
  clearInterval(progress);
  await teardown();
}
