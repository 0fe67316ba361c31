import { access, constants, mkdir, readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from './atomic-file.js';
import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import type { Machine } from './state.js';
import { errnoCode } from './errors.js';

export const STATUS_FILE = 'status.json';
/** The agent confirms its state at least this often, */
const HEARTBEAT_MS = 30_000;
/** and is unhealthy when it has not for this long (CONTRACT §5: "within the last few minutes"). */
const STALE_MS = 3 * 60_000;

interface Status {
  pid: number;
  state: string;
  since: number;
  confirmed_at: number;
  mqtt: 'connected' | 'disconnected' | 'disabled';
  /** The local token endpoint for kiosk apps (CONTRACT §8), when KIOSK_TOKEN_LISTEN is set. */
  token_endpoint?: { state: 'starting' | 'listening' | 'failed'; address: string; error?: string };
  /** Where the token cache lives: `memory` with KIOSK_REMEMBER=false (a restart asks for a code). */
  cache?: 'file' | 'memory';
}

export interface HealthDeps {
  stateDir: string;
  machine: Machine;
  clock: Clock;
  log: Logger;
  mqttStatus(): Status['mqtt'];
  tokenEndpointStatus?(): Status['token_endpoint'];
  cache: 'file' | 'memory';
}

/**
 * Keeps `<KIOSK_STATE_DIR>/status.json` current for `kiosk-agent health`: written on every state
 * change and on a heartbeat. The heartbeat runs on the event loop, so a blocked agent goes stale.
 */
export class StatusFile {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** Until `start`, a change outside the machine waits for the first write, which records it. */
  private started = false;
  private writing = Promise.resolve();
  private readonly path: string;
  /** errno code of the failing writes, so a full or read-only disk is logged once, not on every state. */
  private failing?: string;

  constructor(private readonly d: HealthDeps) {
    this.path = join(d.stateDir, STATUS_FILE);
  }

  async start(): Promise<void> {
    this.started = true;
    await mkdir(this.d.stateDir, { recursive: true, mode: 0o700 }).catch(() => undefined);
    this.d.machine.on('state', () => void this.write());
    this.beat();
    await this.write();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.d.clock.clearTimeout(this.timer);
    await this.write();
  }

  /** Records what changed outside the machine (MQTT up or down, the token endpoint failing or listening) now, not at the next heartbeat. */
  async confirm(): Promise<void> {
    if (this.started && !this.stopped) await this.write();
  }

  /** The heartbeat on the agent's clock: a confirmation every HEARTBEAT_MS while the event loop runs. */
  private beat(): void {
    if (this.stopped) return;
    this.timer = this.d.clock.setTimeout(() => {
      void this.write();
      this.beat();
    }, HEARTBEAT_MS);
    this.timer.unref?.();
  }

  private write(): Promise<void> {
    const snap = this.d.machine.snapshot;
    const status: Status = {
      pid: process.pid, state: snap.state, since: snap.since, confirmed_at: this.d.clock.now(), mqtt: this.d.mqttStatus(),
      token_endpoint: this.d.tokenEndpointStatus?.(), cache: this.d.cache,
    };
    this.writing = this.writing
      .then(() => writeAtomic(this.path, JSON.stringify(status), 0o644))
      .then(
        () => {
          if (this.failing !== undefined) this.d.log.info({ path: this.path }, 'status file written again');
          this.failing = undefined;
        },
        (e: unknown) => {
          const code = errnoCode(e);
          if (this.failing !== code)
            this.d.log.warn({ code, path: this.path }, 'cannot write the status file; `kiosk-agent health` reports unhealthy until it can');
          this.failing = code;
        },
      );
    return this.writing;
  }
}

/** For `kiosk-agent health`: the reasons the running agent is unhealthy; empty when healthy. */
export async function checkHealth(stateDir: string, now = Date.now()): Promise<string[]> {
  let status: Status;
  try {
    status = JSON.parse(await readFile(join(stateDir, STATUS_FILE), 'utf8')) as Status;
  } catch {
    return [`no status in ${stateDir}: ${(await unwritable(stateDir)) ?? 'the agent is not running or KIOSK_STATE_DIR differs'}`];
  }
  const problems: string[] = [];
  if (!isAlive(status.pid)) problems.push(`agent process ${status.pid} is not running`);
  if (status.state === 'stopped') problems.push('agent has stopped');
  if (now - status.confirmed_at > STALE_MS) {
    const why = await unwritable(stateDir);
    problems.push(`state not confirmed for ${Math.round((now - status.confirmed_at) / 1000)} s${why === undefined ? '' : `: ${why}`}`);
  }
  if (status.mqtt === 'disconnected') problems.push('MQTT is not connected');
  const endpoint = status.token_endpoint;
  if (endpoint?.state === 'failed')
    problems.push(`the token endpoint for kiosk apps cannot start on ${endpoint.address} (${endpoint.error ?? 'Error'}); free the port or change KIOSK_TOKEN_LISTEN`);
  return problems;
}

/** What `kiosk-agent health` says besides `healthy`: that the running agent keeps its sign-in in memory only. */
export async function healthNotes(stateDir: string): Promise<string[]> {
  const status = await readFile(join(stateDir, STATUS_FILE), 'utf8').then((t) => JSON.parse(t) as Partial<Status>, () => undefined);
  return status?.cache === 'memory' ? ['token cache in memory only (KIOSK_REMEMBER=false): nothing secret on disk, and a restart asks for a new code'] : [];
}

/** Why the agent cannot write its status in `dir` (read-only or full volume), or undefined when it could. */
async function unwritable(dir: string): Promise<string | undefined> {
  try {
    await access(dir, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EROFS') return `the agent cannot record its state: ${dir} is on a read-only volume (EROFS)`;
    if (code === 'EACCES') return `the agent cannot record its state: ${dir} is not writable (EACCES)`;
    return undefined;
  }
  const fs = await statfs(dir).catch(() => undefined);
  return fs?.bavail === 0 ? `the agent cannot record its state: the volume holding ${dir} is full (ENOSPC)` : undefined;
}

/** Whether a process with this id runs (EPERM: it does, as another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
