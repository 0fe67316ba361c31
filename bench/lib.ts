import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface Started {
  readonly child: ChildProcess;
  /** ms from spawn until `ready` first matched stdout. */
  readonly ms: number;
  /** `performance.now()` at spawn, to time other signs of the same boot (a retained MQTT message) against it. */
  readonly t0: number;
  readonly stdout: () => string;
  readonly stderr: () => string;
}

/** Spawns `node` with `args` and resolves once `ready(stdout)` holds; the process keeps running. */
export function startUntil(node: string, args: string[], env: Record<string, string>, ready: (out: string) => boolean, cwd: string): Promise<Started> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(node, args, { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`not ready within ${READY_TIMEOUT_MS / 1000} s: ${args.join(' ')}\n${err.slice(-2000)}`));
    }, READY_TIMEOUT_MS);
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (!ready(out)) return;
      clearTimeout(timer);
      resolve({ child, ms: performance.now() - t0, t0, stdout: () => out, stderr: () => err });
    });
    child.on('error', reject);
  });
}

/** Under emulation a boot takes seconds. */
const READY_TIMEOUT_MS = 120_000;

/** Ends a started process and waits for it to be gone (its successor must not compete with it for the CPU). */
export function kill(started: Started, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const { child } = started;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
export const spread = (xs: number[]): [number, number] => [Math.min(...xs), Math.max(...xs)];

/**
 * A process's resident memory in MiB, and its two parts: anonymous (V8's heap, malloc, stacks: the process's
 * own) and file-backed (pages of the node binary and its ICU data, which the kernel may drop and read again).
 */
export interface Resident {
  readonly rss: number;
  readonly anon: number;
  readonly file: number;
}

/** The figures of a `/proc/PID/status` text, or of the lines of it that `rss-at-exit.cjs` writes. */
export function residentOf(status: string): Resident {
  const mib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rss: mib('VmRSS'), anon: mib('RssAnon'), file: mib('RssFile') };
}

export async function residentMiB(pid: number): Promise<Resident> {
  return residentOf(await readFile(`/proc/${pid}/status`, 'utf8'));
}

/** CPU seconds (user + system) a process has used so far. */
export async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
  return ticks / 100; // USER_HZ is 100 on Linux
}

export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await dirBytes(path);
    else if (entry.isFile()) total += (await stat(path)).size;
  }
  return total;
}

export async function control(base: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(new URL(path, base), { method: body ? 'POST' : 'GET', body: body ? JSON.stringify(body) : undefined });
  return res.json();
}

export async function approvePending(base: string, userCode?: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const pending = (await control(base, 'pending')) as Array<{ user_code: string }>;
    const code = pending.find((p) => userCode === undefined || p.user_code === userCode);
    if (code) {
      await control(base, 'approve', { user_code: code.user_code });
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no pending code to approve');
}
