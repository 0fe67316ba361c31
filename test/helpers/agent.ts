import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface LogLine {
  level: string;
  msg: string;
  state?: string;
  event?: string;
  [key: string]: unknown;
}

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly dir: string;
  stdout(): string;
  stderr(): string;
  logs(): LogLine[];
  /** Every `state` log line's state, amendments of one state (a new refresh time, a retry) included. */
  states(): string[];
  /** The states gone through: an amended state (the same state logged again) counts once. */
  transitions(): string[];
  /** Resolves with the first log line (past or future) that matches; rejects after `timeoutMs`. */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>;
  waitForState(state: string, timeoutMs?: number, after?: number): Promise<LogLine>;
  /** Sends a signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
  exited(): Promise<number | string>;
}

export interface SpawnOptions {
  env: Record<string, string>;
  args?: string[];
  /** Reuse a directory (cache and status survive a restart). */
  dir?: string;
  /** A command that runs node, e.g. `['nsenter', '--mount=/proc/PID/ns/mnt', '--']` (it must exec, so the pid stays the agent's). */
  wrap?: string[];
  /** Run the shipped bundle (`dist/main.js`, from `npm run build`) instead of the sources. */
  bundle?: boolean;
}

/** Starts the real agent (`src/main.ts` under tsx, or the bundle) with the given settings; logs are read back from stderr. */
export async function spawnAgent(o: SpawnOptions): Promise<AgentProcess> {
  const dir = o.dir ?? (await mkdtemp(join(tmpdir(), 'kiosk-agent-')));
  const [command, ...prefix] = [...(o.wrap ?? []), process.execPath];
  const entry = o.bundle ? [join(ROOT, 'dist/main.js')] : ['--import', 'tsx', join(ROOT, 'src/main.ts')];
  const child = spawn(command!, [...prefix, ...entry, ...(o.args ?? [])], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      KIOSK_CACHE_PATH: join(dir, 'token-cache.json'),
      KIOSK_DEVICE_ID: 'test-kiosk',
      KIOSK_LOG_LEVEL: 'debug',
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => {
    err += b.toString();
    const parts = err.split('\n');
    lines.length = 0;
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as LogLine);
      } catch {
        /* a partial or non-JSON line */
      }
    }
    for (const w of waiters) w();
  });
  const exit = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  const waitForLog = (match: (l: LogLine) => boolean, timeoutMs = 20_000, what = 'log line'): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = lines.find(match);
        if (hit) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; states so far: ${lines.filter((l) => l.msg === 'state').map((l) => l.state).join(' → ')}\n${err.slice(-3000)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
      void exit.then(() => setTimeout(check, 50));
    });
  return {
    child,
    dir,
    stdout: () => out,
    stderr: () => err,
    logs: () => [...lines],
    states: () => lines.filter((l) => l.msg === 'state').map((l) => String(l.state)),
    transitions: () => lines.filter((l) => l.msg === 'state').map((l) => String(l.state)).filter((s, i, all) => s !== all[i - 1]),
    waitForLog,
    waitForState: (state, timeoutMs, after = 0) =>
      waitForLog((l) => lines.filter((x) => x.msg === 'state' && x.state === state)[after] === l, timeoutMs, `state ${state} #${after + 1}`),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exit;
    },
    exited: () => exit,
  };
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
