/**
 * `npm run bench`: one table of medians measured side by side in one run, against the local identity
 * provider and a local Mosquitto, for each Node binary given: boot → code on screen and retained on MQTT
 * against the floor (bare `node`, one HTTPS POST to /devicecode) and the upstream sample; a reboot with the
 * provider metadata saved and nobody signed in; a reboot with a cached account → "Signed in" on screen;
 * RSS signed in and idle against the sample's after sign-in; idle CPU; the production install against the
 * five mission packages; and the same boots under arm64 emulation.
 *
 *   npm run bench -- [--provider-delay MS] [--provider-rtt MS] [--node PATH[,PATH]]... [--arm64 on|off] [--install on|off] [--json FILE]
 *
 * `--provider-delay` waits before each provider answer; `--provider-rtt` puts a round trip on every
 * exchange with the provider, its TLS handshake included (`round-trip-proxy.ts`). BENCH_ROUNDS (7),
 * BENCH_IDLE_SECONDS (60), BENCH_NODE (comma-separated paths), BENCH_PROVIDER_DELAY, BENCH_PROVIDER_RTT,
 * BENCH_ARM64, BENCH_INSTALL and BENCH_JSON do the same as the options.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { runEmulated } from './boot-arm64.js';
import type { Arm64Outcome } from './boot-arm64.js';
import { agentToCode, copyKioskState, floorBoot, rebootSignedIn, sampleBoot, startSignedIn } from './boot-rounds.js';
import type { BootSetup } from './boot-rounds.js';
import { startBootWorld } from './boot-world.js';
import { approvePending, cpuSeconds, dirBytes, kill, median, residentMiB, residentOf, spread, startUntil } from './lib.js';
import type { Resident, Started } from './lib.js';
import { writeUpstreamSample } from './upstream-sample.js';

const { values: o } = parseArgs({
  options: {
    'provider-delay': { type: 'string', default: process.env.BENCH_PROVIDER_DELAY ?? '0' },
    'provider-rtt': { type: 'string', default: process.env.BENCH_PROVIDER_RTT ?? '0' },
    node: { type: 'string', multiple: true, default: process.env.BENCH_NODE?.split(',').filter(Boolean) ?? [process.execPath] },
    arm64: { type: 'string', default: process.env.BENCH_ARM64 ?? 'on' },
    install: { type: 'string', default: process.env.BENCH_INSTALL ?? 'on' },
    json: { type: 'string', default: process.env.BENCH_JSON },
  },
});
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const IDLE_S = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
const DELAY_MS = Number(o['provider-delay']);
const RTT_MS = Number(o['provider-rtt']);
const ROOT = new URL('..', import.meta.url).pathname;
const MISSION = ['@azure/msal-node', 'mqtt', 'qrcode', 'node-cron', 'pino'];
const AGENT_ARGS = [join(ROOT, 'dist/main.js')];
const loadAtStart = loadavg()[0] ?? NaN;

const dir = await mkdtemp(join(tmpdir(), 'kiosk-bench-'));
const world = await startBootWorld(dir, { delayMs: DELAY_MS, rttMs: RTT_MS });
const { idp, authority, codeRetainedAt, agentBaseEnv, agentEnv } = world;

const trust = { NODE_EXTRA_CA_CERTS: idp.caFile };
const floorScript = `const r = await fetch(${JSON.stringify(`${authority}oauth2/v2.0/devicecode`)}, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'client_id=bench&scope=openid' }); console.log((await r.json()).user_code);`;
const sampleApp = await writeUpstreamSample(join(dir, 'sample'), { clientId: 'bench', authority, root: ROOT });

interface NodeRun {
  readonly path: string;
  readonly version: string;
  readonly setup: BootSetup;
  readonly idle: Started;
  readonly idleDir: string;
  floor: number[];
  sample: number[];
  screen: number[];
  retained: number[];
  /** Code retained on MQTT minus code on screen, per boot. */
  mqttLag: number[];
  /** A reboot with provider metadata saved and nobody signed in → code on screen. */
  saved: number[];
  /** A reboot with a cached account → "Signed in" on screen. */
  reboot: number[];
  rss?: Resident;
  /** The sample's, once per round: its anonymous memory has two levels, a single run decides nothing. */
  sampleRss: Resident[];
  idleCpu?: number;
}

/** A signed-in agent, left running: the idle figures, and the cache every reboot round starts from. */
async function signedInAgent(setup: BootSetup, id: string): Promise<{ idle: Started; idleDir: string }> {
  const idleDir = join(dir, id);
  return { idle: await startSignedIn(setup.node, AGENT_ARGS, setup.agentEnv(id, idleDir), ROOT, idp.controlUrl), idleDir };
}

const runs: NodeRun[] = [];
for (const [k, path] of o.node.flatMap((n) => n.split(',')).filter(Boolean).entries()) {
  const version = execFileSync(path, ['-p', 'process.version']).toString().trim();
  const setup: BootSetup = { node: path, cwd: ROOT, agentArgs: AGENT_ARGS, floorScript, sampleApp, trust, agentEnv, dir: join(dir, `node-${k}`) };
  runs.push({ path, version, setup, ...(await signedInAgent(setup, `idle-${k}`)), floor: [], sample: [], screen: [], retained: [], mqttLag: [], saved: [], reboot: [], sampleRss: [] });
}

// Each idle agent saves its compiled code (Node 22) 5 s after its boot: the reboots start from it.
const savedCode = (dir: string): boolean => existsSync(dir) && readdirSync(dir, { recursive: true, withFileTypes: true }).some((e) => e.isFile());
for (const t0 = performance.now(); performance.now() - t0 < 8_000 && !runs.every((r) => savedCode(join(r.idleDir, 'compile-cache'))); ) await delay(100);

for (let i = 0; i < ROUNDS; i++) {
  for (const [k, r] of runs.entries()) {
    r.floor.push(await floorBoot(r.setup));
    r.sample.push(await sampleBoot(r.setup));
    const id = `boot-${k}-${i}`;
    const topic = `kiosk/${id}/state`;
    const metadataFile = join(r.setup.dir, id, 'provider-metadata.json');
    const first = await agentToCode(r.setup, id, async () => {
      for (const t0 = performance.now(); !codeRetainedAt.has(topic) && performance.now() - t0 < 10_000; ) await delay(2);
      // The discovery document is saved as the code is shown, its write still under way.
      for (const t0 = performance.now(); !existsSync(metadataFile) && performance.now() - t0 < 10_000; ) await delay(2);
    });
    r.screen.push(first.ms);
    r.retained.push((codeRetainedAt.get(topic) ?? NaN) - first.t0);
    r.mqttLag.push((codeRetainedAt.get(topic) ?? NaN) - first.t0 - first.ms);
    if (!existsSync(metadataFile)) throw new Error(`no provider metadata saved by ${id}`);
    // A kiosk rebooted before anyone signed in keeps its compiled code too (Node 22): the idle agent's.
    await copyKioskState(r.idleDir, join(r.setup.dir, id), ['compile-cache']);
    r.saved.push((await agentToCode(r.setup, id)).ms);
    r.reboot.push(await rebootSignedIn(r.setup, r.idleDir, `reboot-${k}-${i}`));
  }
}

// The sample's RSS once it has its tokens (it exits then), against the idle agents' RSS and CPU, measured together.
for (let i = 0; i < ROUNDS; i++)
  for (const r of runs) {
    const signed = await startUntil(r.path, ['--require', join(ROOT, 'bench/rss-at-exit.cjs'), sampleApp], trust, (out) => /\b[A-Z0-9]{8,9}\b/.test(out), ROOT);
    await approvePending(idp.controlUrl, /\b([A-Z0-9]{8,9})\b/.exec(signed.stdout())?.[1]);
    await new Promise((resolve) => signed.child.on('exit', resolve));
    r.sampleRss.push(residentOf(signed.stderr()));
  }
await delay(10_000);
const cpu0 = await Promise.all(runs.map(async (r) => ({ r, rss: await residentMiB(r.idle.child.pid ?? 0), cpu: await cpuSeconds(r.idle.child.pid ?? 0) })));
await delay(IDLE_S * 1000);
for (const { r, rss, cpu } of cpu0) {
  r.rss = rss;
  r.idleCpu = ((await cpuSeconds(r.idle.child.pid ?? 0)) - cpu) / IDLE_S;
  await kill(r.idle);
}

const install = o.install === 'off' ? undefined : await installSizes();
// What the image ships of the agent: dist/ without the local provider.
const shipped = (await dirBytes(join(ROOT, 'dist'))) - (await dirBytes(join(ROOT, 'dist/idp')));
const arm64: Arm64Outcome =
  o.arm64 === 'off'
    ? { skipped: '--arm64 off' }
    : await runEmulated(ROOT, dir, { rounds: ROUNDS, agentArgs: AGENT_ARGS, floorScript, sampleApp, trust, agentEnv: agentBaseEnv });

const ms = (xs: number[]): string => {
  const [lo, hi] = spread(xs);
  return `${median(xs).toFixed(0)} ms (${lo.toFixed(0)}–${hi.toFixed(0)})`;
};
const x = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
const line = (what: string, value: string, ratio = ''): void => console.log(`${what.padEnd(58)} ${value.padStart(18)}  ${ratio}`);

console.log(`\nmedians of ${ROUNDS} runs (min–max), side by side; provider delay ${DELAY_MS} ms, round trip ${RTT_MS} ms; ${process.arch}; load average ${loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? NaN).toFixed(2)} at end`);
for (const r of runs) {
  const f = median(r.floor);
  const s = median(r.sample);
  const vs = (xs: number[]): string => `${x(median(xs), f)} floor, ${x(median(xs), s)} sample`;
  console.log(`\nnode ${r.version} (${r.path})`);
  line('floor: bare node, one HTTPS POST to /devicecode', ms(r.floor), '1.00× floor');
  line('upstream sample: start → device-code message', ms(r.sample), `${x(s, f)} floor`);
  line('kiosk-agent: boot → code on screen', ms(r.screen), vs(r.screen));
  line('kiosk-agent: boot → code retained on MQTT', ms(r.retained), vs(r.retained));
  line('kiosk-agent: code retained on MQTT − code on screen', ms(r.mqttLag), 'per boot');
  line('kiosk-agent: reboot, metadata saved, nobody signed in → code', ms(r.saved), vs(r.saved));
  line('kiosk-agent: reboot, cached account → signed in on screen', ms(r.reboot), `${x(median(r.reboot), f)} floor`);
  const sampleRss = (part: keyof Resident): number => median(r.sampleRss.map((m) => m[part]));
  const [rssLo, rssHi] = spread(r.sampleRss.map((m) => m.rss));
  const mib = (part: keyof Resident): number => r.rss?.[part] ?? NaN;
  line('RSS: kiosk-agent signed in, idle', `${mib('rss').toFixed(1)} MiB`, `${x(mib('rss'), sampleRss('rss'))} sample (${sampleRss('rss').toFixed(1)} MiB after sign-in, ${rssLo.toFixed(1)}–${rssHi.toFixed(1)})`);
  line('RSS parts: anonymous / file-backed', `${mib('anon').toFixed(1)} / ${mib('file').toFixed(1)} MiB`, `${x(mib('anon'), sampleRss('anon'))} / ${x(mib('file'), sampleRss('file'))} sample (${sampleRss('anon').toFixed(1)} / ${sampleRss('file').toFixed(1)} MiB)`);
  line(`CPU: kiosk-agent idle between refreshes (${IDLE_S} s)`, `${((r.idleCpu ?? NaN) * 100).toFixed(3)} %`, 'of one core');
}
console.log('');
if (install) line('install: npm ci --omit=dev', `${(install.product / 2 ** 20).toFixed(1)} MiB`, `${x(install.product, install.mission)} the five mission packages (${(install.mission / 2 ** 20).toFixed(1)} MiB)`);
line('image: dist/ without idp/ (the bundle the image ships)', `${(shipped / 2 ** 20).toFixed(2)} MiB`);
if ('skipped' in arm64) line('arm64 emulated: skipped', '', arm64.skipped);
else {
  const e = arm64.result;
  console.log(`\narm64 under qemu (${arm64.image}, node ${e.node} ${e.arch})`);
  line('floor: bare node, one HTTPS POST to /devicecode', ms(e.floor), '1.00× floor');
  line('upstream sample: start → device-code message', ms(e.sample), `${x(median(e.sample), median(e.floor))} floor`);
  line('kiosk-agent: boot → code on screen', ms(e.screen), `${x(median(e.screen), median(e.floor))} floor, ${x(median(e.screen), median(e.sample))} sample`);
}
if (o.json) {
  const native = runs.map(({ setup: _s, idle: _i, idleDir: _d, ...r }) => r);
  await writeFile(o.json, JSON.stringify({ rounds: ROUNDS, delayMs: DELAY_MS, rttMs: RTT_MS, load: [loadAtStart, loadavg()[0]], native, install, shipped, arm64 }, null, 1));
}

await world.close();
await rm(dir, { recursive: true, force: true });

/** node_modules of the production install, against the five mission packages installed alone (same versions). */
async function installSizes(): Promise<{ product: number; mission: number }> {
  const lock = (await import(join(ROOT, 'package-lock.json'), { with: { type: 'json' } })).default as { packages: Record<string, { version: string }> };
  const product = join(dir, 'install-product');
  const mission = join(dir, 'install-mission');
  const npm = (cwd: string, args: string[]) => execFileSync('npm', args, { cwd, stdio: 'ignore' });
  execFileSync('mkdir', ['-p', product, mission]);
  await copyFile(join(ROOT, 'package.json'), join(product, 'package.json'));
  await copyFile(join(ROOT, 'package-lock.json'), join(product, 'package-lock.json'));
  npm(product, ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund']);
  await writeFile(join(mission, 'package.json'), '{"name":"mission","private":true}');
  npm(mission, ['install', '--ignore-scripts', '--no-audit', '--no-fund', ...MISSION.map((p) => `${p}@${lock.packages[`node_modules/${p}`]?.version}`)]);
  return { product: await dirBytes(join(product, 'node_modules')), mission: await dirBytes(join(mission, 'node_modules')) };
}
