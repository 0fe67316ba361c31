/**
 * The arm64 row of `npm run bench`: `boot-emulated.ts`, bundled, run by the arm64 Node of the arm64 base
 * image (`node:22-bookworm-slim-arm64`, the runtime image's base) under qemu, with this checkout's
 * `dist/` and `node_modules` mounted read-only and the host's network (the provider and broker stay native).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { build } from 'esbuild';
import { arm64Problem, ARM64_BASE } from '../test/helpers/container.js';
import type { EmulatedResult, EmulatedSpec } from './boot-emulated.js';

export type Arm64Outcome = { result: EmulatedResult; image: string } | { skipped: string };

export async function runEmulated(root: string, dir: string, spec: Omit<EmulatedSpec, 'dir' | 'cwd'>): Promise<Arm64Outcome> {
  const problem = await arm64Problem();
  if (problem !== undefined) return { skipped: problem };
  const worker = join(dir, 'boot-emulated.mjs');
  await build({
    entryPoints: [join(root, 'bench/boot-emulated.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: worker, logLevel: 'warning',
  });
  const full: EmulatedSpec = { ...spec, cwd: root, dir: join(dir, 'emulated') };
  const args = [
    'run', '--rm', '--platform', 'linux/arm64', '--network', 'host', '-v', `${root}:${root}:ro`, '-v', `${dir}:${dir}`, '-w', root,
    ARM64_BASE, 'node', worker, JSON.stringify(full),
  ];
  return new Promise((resolve) => {
    execFile('docker', args, { timeout: 1_800_000, maxBuffer: 16 << 20 }, (e, stdout, stderr) => {
      const line = String(stdout).trim().split('\n').at(-1) ?? '';
      if (e) return resolve({ skipped: `the emulated run failed: ${(String(stderr).trim().split('\n').at(-1) ?? e.message).slice(0, 300)}` });
      resolve({ result: JSON.parse(line) as EmulatedResult, image: ARM64_BASE });
    });
  });
}
