/**
 * `npm run bench`: boot → code on screen for the built agent, against the floor (a bare `node`
 * process making one HTTPS POST to the device-code endpoint), measured side by side in one run
 * against the local identity provider; then RSS once signed in. Prints one table of medians.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startIdp } from '../src/idp/server.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const ROOT = new URL('..', import.meta.url).pathname;

interface Timed {
  ms: number;
  pid: number;
}

/** Spawns `args` and resolves when `ready(stdout)` is true; the process is then killed. */
function timeUntil(args: string[], env: Record<string, string>, ready: (out: string) => boolean, keep = false): Promise<Timed & { kill(): void }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`not ready within 30 s: ${args.join(' ')}`));
    }, 30_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (!ready(out)) return;
      clearTimeout(timer);
      const ms = performance.now() - started;
      if (!keep) child.kill('SIGKILL');
      resolve({ ms, pid: child.pid ?? 0, kill: () => child.kill('SIGKILL') });
    });
    child.on('error', reject);
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

async function control(base: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(new URL(path, base), { method: body ? 'POST' : 'GET', headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
  return res.json();
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-bench-'));
  const idp = await startIdp({ dir: join(dir, 'idp') });
  const common = { NODE_EXTRA_CA_CERTS: idp.caFile };
  const deviceCodeUrl = `${idp.authority}oauth2/v2.0/devicecode`;
  const floorScript = `const r = await fetch(${JSON.stringify(deviceCodeUrl)}, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'client_id=bench&scope=openid' }); const j = await r.json(); console.log(j.user_code);`;
  const agentEnv = (n: number) => ({
    ...common,
    KIOSK_CLIENT_ID: 'bench',
    KIOSK_AUTHORITY: idp.authority,
    KIOSK_CACHE_PATH: join(dir, `agent-${n}`, 'token-cache.json'),
    KIOSK_DEVICE_ID: `bench-${n}`,
    KIOSK_LOG_LEVEL: 'warn',
  });
  const floor: number[] = [];
  const agent: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    floor.push((await timeUntil(['--input-type=module', '-e', floorScript], common, (o) => /\w{6,}/.test(o))).ms);
    agent.push((await timeUntil([join(ROOT, 'dist/main.js')], agentEnv(i), (o) => /Code: \w+/.test(o))).ms);
  }

  // RSS once signed in and idle: approve the code of a running agent, wait, read /proc.
  const signedIn = await timeUntil([join(ROOT, 'dist/main.js')], agentEnv(ROUNDS), (o) => /Code: \w+/.test(o), true);
  const [pending] = (await control(idp.controlUrl, 'pending')) as Array<{ user_code: string }>;
  await control(idp.controlUrl, 'approve', { user_code: pending?.user_code });
  await delay(8_000);
  const rss = await rssMiB(signedIn.pid);
  signedIn.kill();

  const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
  const rows: Array<[string, string, string]> = [
    ['floor: bare node, one HTTPS POST to /devicecode', fmt(median(floor)), '1.00×'],
    ['kiosk-agent: boot → code on screen', fmt(median(agent)), `${(median(agent) / median(floor)).toFixed(2)}× floor`],
    ['kiosk-agent: RSS signed in, idle', `${rss.toFixed(1)} MiB`, ''],
  ];
  console.log(`\nmedians of ${ROUNDS} runs, measured side by side (node ${process.version}, ${process.arch})\n`);
  for (const [what, value, ratio] of rows) console.log(`${what.padEnd(52)} ${value.padStart(10)}  ${ratio}`);
  await idp.close();
  await rm(dir, { recursive: true, force: true });
}

await main();
