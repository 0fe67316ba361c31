/**
 * `npm run bench:token`: the local token endpoint against a bare node:http server answering a fixed JSON
 * of the same size, measured side by side in one run: latency of a cached token request over one
 * keep-alive connection (median, p99), requests per second with 32 connections (both servers are one
 * process, so one core), and the RSS the endpoint adds to a signed-in agent (an agent without it beside),
 * at its rate limit, warmed up and after the unlimited load, with the heap after a GC to show nothing grows.
 * The agents run bundled, as built. BENCH_TOKEN_REQUESTS (default 5000) sets the requests per round;
 * rounds alternate between the two; BENCH_TOKEN_QUIET_SECONDS (default 30) is the time
 * of the paced load and of the quiet after them.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { Agent as HttpAgent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { startIdp } from '../src/idp/server.js';
import { DEFAULT_LIMITS } from '../src/token-endpoint/server.js';
import { approvePending, median } from './lib.js';
import type { FromTokenWorker, ToTokenWorker } from './token-worker.js';

const N = Number(process.env.BENCH_TOKEN_REQUESTS ?? 5_000);
const ROUNDS = 3;
const QUIET_S = Number(process.env.BENCH_TOKEN_QUIET_SECONDS ?? 30);
const ROOT = new URL('..', import.meta.url).pathname;
const RESOURCE = 'api://bench-api';

const dir = await mkdtemp(join(tmpdir(), 'kiosk-bench-token-'));
const idp = await startIdp({ dir: join(dir, 'idp') });
const freePort = async (): Promise<number> => {
  const probe = (await import('node:net')).createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as { port: number }).port;
  probe.close();
  return port;
};

interface Worker {
  child: ChildProcess;
  states: string[];
  memory(): Promise<{ rss: number; heap: number }>;
}

// The worker is bundled as the product is (npm run build's esbuild options), so it runs as a built agent
// does: no TypeScript loader between it and Node.
const workerBundle = join(dir, 'token-worker.mjs');
await build({
  entryPoints: [join(ROOT, 'bench/token-worker.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: workerBundle, logLevel: 'warning',
  banner: { js: "import{createRequire}from'node:module';const require=createRequire(import.meta.url);" },
});

function startWorker(name: string, extra: Record<string, string>): Worker {
  const child = spawn(process.execPath, ['--expose-gc', workerBundle], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: {
      PATH: process.env.PATH ?? '',
      NODE_EXTRA_CA_CERTS: idp.caFile,
      KIOSK_CLIENT_ID: 'bench',
      KIOSK_AUTHORITY: idp.authority,
      KIOSK_CACHE_PATH: join(dir, name, 'token-cache.json'),
      KIOSK_DEVICE_ID: name,
      KIOSK_MQTT_URL: 'off',
      KIOSK_TERMINAL: '/dev/null',
      KIOSK_SCOPES: `openid profile offline_access ${RESOURCE}/read`,
      KIOSK_REFRESH_CRON: '0 0 1 1 *',
      ...extra,
    },
  });
  const states: string[] = [];
  const memoryWaiters: Array<(m: { rss: number; heap: number }) => void> = [];
  child.on('message', (m: FromTokenWorker) => (m.type === 'state' ? states.push(m.state) : memoryWaiters.shift()?.(m)));
  return {
    child,
    states,
    memory: () => new Promise((resolve) => {
      memoryWaiters.push(resolve);
      child.send({ type: 'measure' } satisfies ToTokenWorker);
    }),
  };
}

async function signedIn(w: Worker): Promise<void> {
  for (const t0 = Date.now(); !w.states.includes('signed_in'); await new Promise((r) => setTimeout(r, 50)))
    if (Date.now() - t0 > 30_000) throw new Error('an agent did not sign in');
}

const port = await freePort();
const plain = startWorker('plain', {});
const endpoint = startWorker('endpoint', { KIOSK_TOKEN_LISTEN: `127.0.0.1:${port}` });
await approvePending(idp.controlUrl);
await approvePending(idp.controlUrl);
await Promise.all([signedIn(plain), signedIn(endpoint)]);
const secret = await readFile(join(dir, 'endpoint', 'identity-header'), 'utf8');
const path = `/msi/token?api-version=2019-08-01&resource=${encodeURIComponent(RESOURCE)}`;
const headers = { 'X-IDENTITY-HEADER': secret };

/** One GET on `agent`'s connections; resolves with the status once the body is read. */
const get = (p: number, agent: HttpAgent): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: p, path, headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });

// The baseline answers what the endpoint answers, byte for byte, with the same headers: the protocol's floor.
const sample = await get(port, new HttpAgent());
if (sample.status !== 200) throw new Error(`the endpoint answered ${sample.status}: ${sample.body}`);
const basePort = await freePort();
const baseline = spawn(process.execPath, ['-e', `
  const body = Buffer.from(process.env.BODY);
  require('node:http').createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', Pragma: 'no-cache', 'X-Content-Type-Options': 'nosniff', 'Content-Length': body.length });
    res.end(body);
  }).listen(${basePort}, '127.0.0.1', () => process.send('ready'));
`], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { BODY: sample.body } });
await once(baseline, 'message');

async function latencies(p: number): Promise<number[]> {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const r = await get(p, agent);
    times.push(performance.now() - t0);
    if (r.status !== 200) throw new Error(`status ${r.status}`);
  }
  agent.destroy();
  return times;
}

async function perSecond(p: number): Promise<number> {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 32 });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next++ < N) if ((await get(p, agent)).status !== 200) throw new Error('not 200');
  }));
  const s = (performance.now() - t0) / 1000;
  agent.destroy();
  return N / s;
}

const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))] ?? NaN;
const listening = await endpoint.memory();
const plainIdle = await plain.memory();
// As kiosk apps can use it: at the default rate limit (DEFAULT_LIMITS.perSecond a second).
const paceAgent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
for (let i = 0; i < DEFAULT_LIMITS.perSecond * QUIET_S; i++) {
  await get(port, paceAgent);
  await new Promise((r) => setTimeout(r, 1000 / DEFAULT_LIMITS.perSecond));
}
paceAgent.destroy();
const [plainPaced, paced] = [await plain.memory(), await endpoint.memory()];
await latencies(port); // warm both up (JIT, connection pools, MSAL's cache path)
await latencies(basePort);
const warm = await endpoint.memory();
const lat = { endpoint: [] as number[], baseline: [] as number[] };
const rps = { endpoint: [] as number[], baseline: [] as number[] };
for (let round = 0; round < ROUNDS; round++) {
  lat.endpoint.push(...(await latencies(port)));
  lat.baseline.push(...(await latencies(basePort)));
  rps.endpoint.push(await perSecond(port));
  rps.baseline.push(await perSecond(basePort));
}
const [without, loaded] = [await plain.memory(), await endpoint.memory()];
// V8 keeps the heap it grew under the load's allocation rate for a while; what stays once the kiosk is quiet again:
await new Promise((r) => setTimeout(r, QUIET_S * 1000));
const [withoutQuiet, quiet] = [await plain.memory(), await endpoint.memory()];

const ms = (x: number): string => `${x.toFixed(3)} ms`;
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}× baseline`;
const ratio2 = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const rows: Array<[string, string, string]> = [
  ['cached token request, median (1 connection)', ms(median(lat.endpoint)), `${ratio(median(lat.endpoint), median(lat.baseline))} (${ms(median(lat.baseline))})`],
  ['cached token request, p99 (1 connection)', ms(quantile(lat.endpoint, 0.99)), `${ratio(quantile(lat.endpoint, 0.99), quantile(lat.baseline, 0.99))} (${ms(quantile(lat.baseline, 0.99))})`],
  ['requests per second, one process (32 connections)', median(rps.endpoint).toFixed(0), `${ratio(median(rps.endpoint), median(rps.baseline))} (${median(rps.baseline).toFixed(0)})`],
  ['RSS added by the endpoint, listening (one request served)', mib(listening.rss - plainIdle.rss), `${ratio2(listening.rss, plainIdle.rss)} the agent without it (${mib(plainIdle.rss)})`],
  [`RSS added by the endpoint, ${DEFAULT_LIMITS.perSecond} requests/s for ${QUIET_S} s (its rate limit)`, mib(paced.rss - plainPaced.rss), `${ratio2(paced.rss, plainPaced.rss)} the agent without it`],
  ['RSS added by the endpoint, warmed up', mib(warm.rss - without.rss), `${ratio2(warm.rss, without.rss)} the agent without it (${mib(without.rss)})`],
  ['RSS added by the endpoint, after the load', mib(loaded.rss - without.rss), `${ratio2(loaded.rss, without.rss)} the agent without it`],
  [`RSS added by the endpoint, ${QUIET_S} s after the load`, mib(quiet.rss - withoutQuiet.rss), `${ratio2(quiet.rss, withoutQuiet.rss)} the agent without it`],
  ['heap in use after a GC: after the load against warmed up', mib(loaded.heap - warm.heap), `${mib(loaded.heap)} against ${mib(warm.heap)} (a leak would grow with the requests)`],
];
console.log(`\n${ROUNDS} rounds of ${N} requests each, alternating with the baseline (node ${process.version}, ${process.arch})\n`);
for (const [what, value, vs] of rows) console.log(`${what.padEnd(66)} ${value.padStart(10)}  ${vs}`);

for (const w of [plain, endpoint]) w.child.send({ type: 'stop' } satisfies ToTokenWorker);
baseline.kill('SIGTERM');
await Promise.all([plain, endpoint].map((w) => once(w.child, 'exit')));
await idp.close();
await rm(dir, { recursive: true, force: true });
