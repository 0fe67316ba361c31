/**
 * The boots `npm run bench` times, one process at a time, for one Node binary: the floor, the upstream
 * sample and the agent. Node builtins only, so the emulated run (`boot-emulated.ts`) bundles the same code.
 */
import { cp, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { approvePending, kill, startUntil } from './lib.js';
import type { Started } from './lib.js';

export interface BootSetup {
  /** The Node binary every measured process runs on. */
  readonly node: string;
  readonly cwd: string;
  /** Node's arguments that start the agent (`dist/main.js`), as the product's entry point does. */
  readonly agentArgs: readonly string[];
  /** The floor: one HTTPS POST to /devicecode, its user code printed. */
  readonly floorScript: string;
  readonly sampleApp: string;
  /** NODE_EXTRA_CA_CERTS for the local provider. */
  readonly trust: Record<string, string>;
  /** The agent's environment for a kiosk whose files live in `dir`. */
  agentEnv(id: string, dir: string): Record<string, string>;
  /** Where the agents' directories are made. */
  readonly dir: string;
}

export const CODE_ON_SCREEN = /Code: \w+/;
export const SIGNED_IN_ON_SCREEN = /Signed in/;
/** An agent started with `args` and `env`, its code approved at the provider's control API, left running once "Signed in" is on screen. */
export async function startSignedIn(node: string, args: string[], env: Record<string, string>, cwd: string, controlUrl: string): Promise<Started> {
  const agent = await startUntil(node, args, env, (out) => CODE_ON_SCREEN.test(out), cwd);
  await approvePending(controlUrl, /Code: (\w+)/.exec(agent.stdout())?.[1]);
  for (const t0 = performance.now(); !SIGNED_IN_ON_SCREEN.test(agent.stdout()); await delay(50)) {
    if (performance.now() - t0 > 60_000) throw new Error(`the agent on ${node} did not sign in`);
  }
  return agent;
}

const hasCode = (o: string): boolean => /\b[A-Z0-9]{8,9}\b/.test(o);

export async function floorBoot(s: BootSetup): Promise<number> {
  const f = await startUntil(s.node, ['--input-type=module', '-e', s.floorScript], s.trust, hasCode, s.cwd);
  await kill(f);
  return f.ms;
}

export async function sampleBoot(s: BootSetup): Promise<number> {
  const f = await startUntil(s.node, [s.sampleApp], s.trust, hasCode, s.cwd);
  await kill(f);
  return f.ms;
}

/**
 * The agent in `dir/id` until its code is on screen; `t0` is its spawn time. `before` (waiting for the
 * code on MQTT, say) runs before the agent is killed.
 */
export async function agentToCode(s: BootSetup, id: string, before?: (t0: number) => Promise<void>): Promise<{ ms: number; t0: number }> {
  const a = await startUntil(s.node, [...s.agentArgs], s.agentEnv(id, join(s.dir, id)), (o) => CODE_ON_SCREEN.test(o), s.cwd);
  await before?.(a.t0);
  await kill(a);
  return { ms: a.ms, t0: a.t0 };
}

/**
 * What a reboot keeps of a kiosk's directory `from` (its cache, provider metadata and, on Node 22,
 * compiled code), copied into a new directory `to`; `files` narrows it.
 */
export async function copyKioskState(from: string, to: string, files = ['token-cache.json', 'provider-metadata.json', 'compile-cache']): Promise<void> {
  await mkdir(to, { recursive: true, mode: 0o700 });
  for (const file of files) if (existsSync(join(from, file))) await cp(join(from, file), join(to, file), { recursive: true });
}

/** A reboot of the signed-in kiosk in `from`, in a copy of what it keeps, timed until "Signed in" is on screen. */
export async function rebootSignedIn(s: BootSetup, from: string, id: string): Promise<number> {
  const dir = join(s.dir, id);
  await copyKioskState(from, dir);
  const a = await startUntil(s.node, [...s.agentArgs], s.agentEnv(id, dir), (o) => SIGNED_IN_ON_SCREEN.test(o), s.cwd);
  await kill(a);
  return a.ms;
}
