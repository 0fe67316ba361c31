import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { RequestEntry } from '../src/idp/types.js';

/** bench/fleet.ts → bench/fleet-worker.ts */
export type ToWorker = { type: 'measure' };
/** bench/fleet-worker.ts → bench/fleet.ts */
export type FromWorker =
  | { type: 'started'; ms: number }
  | { type: 'rss'; rss: number }
  | { type: 'stopped'; failedStops: number; errorLines: number; warnReasons: Record<string, number>; warnings: string[]; sample: string[] };

const ROOT = new URL('..', import.meta.url).pathname;

export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  /** The last 4 KiB of its stderr, for failure messages. */
  stderr(): string;
  /** Its first line on stdout; rejects after `timeoutMs`. */
  firstLine(timeoutMs: number): Promise<string>;
  /** The next IPC message of `type`; rejects after `timeoutMs`. */
  next<T extends FromWorker['type']>(type: T, timeoutMs: number): Promise<Extract<FromWorker, { type: T }>>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves on exit. */
  stop(graceMs: number): Promise<void>;
}

/** `node --import tsx SCRIPT ARGS` from the repository root, with an IPC channel (it ends with the orchestrator). */
export function spawnTs(script: string, args: string[], env: Record<string, string>, nodeFlags: string[] = []): Child {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let err = '';
  let out = '';
  child.stderr?.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4096)));
  child.stdout?.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-65536)));
  const messages: FromWorker[] = [];
  const waiters = new Set<() => void>();
  child.on('message', (m: FromWorker) => {
    messages.push(m);
    for (const w of waiters) w();
  });
  const exited = once(child, 'exit').then(() => undefined);
  return {
    process: child,
    pid: child.pid ?? 0,
    stderr: () => err,
    async firstLine(timeoutMs) {
      const end = Date.now() + timeoutMs;
      while (!out.includes('\n')) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`${script}: no ready line within ${timeoutMs} ms\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return out.slice(0, out.indexOf('\n'));
    },
    next(type, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const i = messages.findIndex((m) => m.type === type);
          if (i < 0) return;
          cleanup();
          resolve(messages.splice(i, 1)[0] as never);
        };
        const fail = (why: string) => (): void => {
          cleanup();
          reject(new Error(`${script} (pid ${child.pid}) ${why} before "${type}"\n${err}`));
        };
        const timer = setTimeout(fail(`sent nothing within ${timeoutMs} ms`), timeoutMs);
        const onExit = fail(`exited (${child.exitCode ?? child.signalCode})`);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', onExit);
        };
        waiters.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop(graceMs) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Device-code polls (token requests with the device-code grant) that came sooner than the code's
 * interval, less `tolerance` (a fraction), after the previous poll of the same code or, for the first
 * poll, after the code was requested; plus the provider's `slow_down` answers.
 */
export function fastPolls(entries: readonly RequestEntry[], intervalS: (codeId: string) => number, tolerance: number): { gaps: number; tooFast: number; slowDown: number; codes: number } {
  const byCode = new Map<string, number[]>();
  let slowDown = 0;
  for (const e of entries) {
    const poll = e.endpoint === 'token' && e.grant_type?.includes('device_code') === true;
    if ((!poll && e.endpoint !== 'devicecode') || e.code_id === undefined) continue;
    if (e.error === 'slow_down') slowDown++;
    const list = byCode.get(e.code_id) ?? [];
    list.push(e.at);
    byCode.set(e.code_id, list);
  }
  let gaps = 0;
  let tooFast = 0;
  for (const [code, times] of byCode) {
    times.sort((a, b) => a - b);
    gaps += times.length - 1;
    const min = intervalS(code) * 1000 * (1 - tolerance);
    for (let i = 1; i < times.length; i++) if (times[i]! - times[i - 1]! < min) tooFast++;
  }
  return { gaps, tooFast, slowDown, codes: byCode.size };
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

export function markdownTable(rows: ReadonlyArray<readonly [string, string]>): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  const v = Math.max(...rows.map(([, x]) => x.length));
  const line = (a: string, b: string) => `| ${a.padEnd(w)} | ${b.padStart(v)} |`;
  return [line('metric', 'value'), `|${'-'.repeat(w + 2)}|${'-'.repeat(v + 1)}:|`, ...rows.map(([a, b]) => line(a, b))].join('\n');
}
