/**
 * The emulated part of `npm run bench`, bundled by it and run with the arm64 Node inside the arm64 image
 * under qemu (a slow CPU's stand-in): the floor, the upstream sample and the agent's first boot, one
 * after another, each round, with the provider and broker on the host. Prints one JSON line.
 */
import { agentToCode, floorBoot, sampleBoot } from './boot-rounds.js';
import type { BootSetup } from './boot-rounds.js';

export interface EmulatedSpec {
  readonly rounds: number;
  readonly cwd: string;
  readonly agentArgs: string[];
  readonly floorScript: string;
  readonly sampleApp: string;
  readonly trust: Record<string, string>;
  /** The agent's environment without its own paths and id. */
  readonly agentEnv: Record<string, string>;
  readonly dir: string;
}

export interface EmulatedResult {
  readonly node: string;
  readonly arch: string;
  readonly floor: number[];
  readonly sample: number[];
  readonly screen: number[];
}

const spec = JSON.parse(process.argv[2] ?? '{}') as EmulatedSpec;
const setup: BootSetup = {
  ...spec,
  node: process.execPath,
  agentEnv: (id, dir) => ({ ...spec.agentEnv, KIOSK_DEVICE_ID: id, KIOSK_CACHE_PATH: `${dir}/token-cache.json` }),
};
const result: EmulatedResult = { node: process.version, arch: process.arch, floor: [], sample: [], screen: [] };
for (let i = 0; i < spec.rounds; i++) {
  result.floor.push(await floorBoot(setup));
  result.sample.push(await sampleBoot(setup));
  result.screen.push((await agentToCode(setup, `emulated-${i}`)).ms);
}
process.stdout.write(`${JSON.stringify(result)}\n`);
