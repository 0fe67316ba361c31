import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where each scenario appends its line; `run.ts` sets it and prints the table. */
export const REPORT_FILE = process.env.FAULTS_REPORT ?? join(tmpdir(), 'kiosk-agent-faults.jsonl');

/** `FAULTS=full` (npm run test:faults) runs the rounds the issue asks for; CI runs the quick subset. */
export const FULL = process.env.FAULTS === 'full';

export function rounds(full: number, quick: number): number {
  return FULL ? full : quick;
}

export interface ScenarioResult {
  scenario: string;
  rounds: number;
  failures: number;
  /** Bytes of stdout, stderr, MQTT, web page and framebuffer text scanned for issued tokens. */
  bytesScanned: number;
  leaks: number;
  /** A short figure worth reading next to the counts, e.g. `worst catch-up 1036 ms`. */
  note?: string;
}

/** Appends the scenario's line; the caller asserts `failures === 0` and `leaks === 0` after recording. */
export function record(r: ScenarioResult): void {
  appendFileSync(REPORT_FILE, `${JSON.stringify(r)}\n`);
}

/**
 * Runs `rounds` rounds, each in its own try; a failing round is counted and its message kept, the
 * rest still run, so the table shows how many failed rather than stopping at the first.
 */
export async function eachRound(count: number, round: (i: number) => Promise<void>): Promise<{ failures: number; errors: string[] }> {
  const errors: string[] = [];
  for (let i = 0; i < count; i++) {
    try {
      await round(i);
    } catch (e) {
      errors.push(`round ${i + 1}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { failures: errors.length, errors };
}

/** The seed for this run's random choices: `FAULTS_SEED` replays a run, else a new one (printed by the test). */
export const SEED = Number(process.env.FAULTS_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** mulberry32: a small seeded generator, so a failing order can be replayed with `FAULTS_SEED`. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
