/**
 * `npm run bench:pairs -- --against DIR`: this checkout's agent against another checkout's (its own `npm
 * run build` done), boot by boot in interleaved pairs (A B, B A, ...) against one local provider and one
 * Mosquitto, so that load drifting over the run falls on both alike. Prints each side's medians and the
 * median of the paired differences: boot → code on screen and the code's lag on MQTT (`--mode first`,
 * the default), or a reboot with a cached account → "Signed in" (`--mode reboot`).
 *
 *   npm run bench:pairs -- --against DIR [--pairs 15] [--mode first|reboot] [--provider-delay MS] [--provider-rtt MS] [--node PATH]
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { CODE_ON_SCREEN, copyKioskState, SIGNED_IN_ON_SCREEN, startSignedIn } from './boot-rounds.js';
import { startBootWorld } from './boot-world.js';
import { kill, median, startUntil } from './lib.js';

const { values: o } = parseArgs({
  options: {
    against: { type: 'string' },
    pairs: { type: 'string', default: '15' },
    mode: { type: 'string', default: 'first' },
    'provider-delay': { type: 'string', default: '0' },
    'provider-rtt': { type: 'string', default: '0' },
    node: { type: 'string', default: process.execPath },
  },
});
if (o.against === undefined || !['first', 'reboot'].includes(o.mode)) {
  process.stderr.write('usage: npm run bench:pairs -- --against DIR [--pairs N] [--mode first|reboot] [--provider-delay MS] [--provider-rtt MS] [--node PATH]\n');
  process.exit(64);
}
const roots = [resolve(o.against), new URL('..', import.meta.url).pathname];
const ready = o.mode === 'reboot' ? SIGNED_IN_ON_SCREEN : CODE_ON_SCREEN;
const dir = await mkdtemp(join(tmpdir(), 'kiosk-pairs-'));
const rtt = Number(o['provider-rtt']);
const world = await startBootWorld(dir, { delayMs: Number(o['provider-delay']), rttMs: rtt });
const { idp, codeRetainedAt, agentEnv: env } = world;
const boot = (root: string, id: string, at: string) => startUntil(o.node, [join(root, 'dist/main.js')], env(id, at), (out) => ready.test(out), root);

// A reboot starts from what a signed-in kiosk keeps, copied for every boot: one kiosk per side, since
// the compiled code Node 22 keeps there is its own checkout's.
const signedIn = roots.map((_, k) => join(dir, `signed-in-${k}`));
if (o.mode === 'reboot') {
  for (const [k, root] of roots.entries()) {
    await kill(await startSignedIn(o.node, [join(root, 'dist/main.js')], env(`signed-in-${k}`, signedIn[k]!), root, idp.controlUrl), 'SIGTERM');
  }
}

const sides = roots.map(() => ({ ms: [] as number[], lag: [] as number[] }));
for (let i = 0; i < Number(o.pairs); i++) {
  const order = i % 2 === 0 ? [0, 1] : [1, 0];
  for (const k of order) {
    const id = `k${k}-${i}`;
    const at = join(dir, id);
    if (o.mode === 'reboot') await copyKioskState(signedIn[k]!, at);
    else await mkdir(at, { recursive: true, mode: 0o700 });
    const a = await boot(roots[k]!, id, at);
    if (o.mode === 'first') {
      const topic = `kiosk/${id}/state`;
      for (const t0 = performance.now(); !codeRetainedAt.has(topic) && performance.now() - t0 < 10_000; ) await delay(1);
      sides[k]!.lag.push((codeRetainedAt.get(topic) ?? NaN) - a.t0 - a.ms);
    }
    await kill(a);
    sides[k]!.ms.push(a.ms);
  }
}

const f = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(1)} ms`;
const diff = (xs: number[], ys: number[]): number => median(ys.map((y, i) => y - xs[i]!));
console.log(`${o.pairs} pairs, ${o.mode} boot, provider delay ${o['provider-delay']} ms, round trip ${rtt} ms, ${o.node}`);
for (const [k, s] of sides.entries()) console.log(`${k === 0 ? 'against' : 'this   '} ${roots[k]}: median ${median(s.ms).toFixed(1)} ms${o.mode === 'first' ? `, code on MQTT ${median(s.lag).toFixed(1)} ms after the screen` : ''}`);
console.log(`paired difference, this − against: ${f(diff(sides[0]!.ms, sides[1]!.ms))}${o.mode === 'first' ? `; MQTT lag ${f(diff(sides[0]!.lag, sides[1]!.lag))}` : ''}`);

await world.close();
await rm(dir, { recursive: true, force: true });
