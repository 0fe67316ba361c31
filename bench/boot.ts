/**
 * `npm run bench`: one table of medians measured side by side in one run, against the local
 * identity provider and a local Mosquitto: boot → code on screen and retained on MQTT, against the
 * floor (bare `node`, one HTTPS POST to /devicecode) and the upstream sample; RSS signed in; idle
 * CPU between refreshes; production install size against the five mission packages alone.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import mqtt from 'mqtt';
import { startIdp } from '../src/idp/server.js';
import { approvePending, cpuSeconds, dirBytes, median, rssMiB, startUntil } from './lib.js';
import { writeUpstreamSample } from './upstream-sample.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const IDLE_S = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
const ROOT = new URL('..', import.meta.url).pathname;
const MISSION = ['@azure/msal-node', 'mqtt', 'qrcode', 'node-cron', 'pino'];

const dir = await mkdtemp(join(tmpdir(), 'kiosk-bench-'));
const idp = await startIdp({ dir: join(dir, 'idp') });
const brokerPort = 20_000 + Math.floor(Math.random() * 20_000);
await writeFile(join(dir, 'mosquitto.conf'), `listener ${brokerPort} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
const broker = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
await delay(500);
const subscriber = await mqtt.connectAsync(`mqtt://127.0.0.1:${brokerPort}`);
const retainedAt = new Map<string, number>();
const signedIn = new Set<string>();
subscriber.on('message', (topic, payload) => {
  const state = payload.length > 0 ? (JSON.parse(payload.toString()) as { state?: string; user_code?: string }) : {};
  if (state.user_code) retainedAt.set(topic, performance.now());
  if (state.state === 'signed_in') signedIn.add(topic);
});
await subscriber.subscribeAsync('kiosk/+/state');

const trust = { NODE_EXTRA_CA_CERTS: idp.caFile };
const agentEnv = (id: string) => ({
  ...trust,
  KIOSK_CLIENT_ID: 'bench',
  KIOSK_AUTHORITY: idp.authority,
  KIOSK_CACHE_PATH: join(dir, id, 'token-cache.json'),
  KIOSK_DEVICE_ID: id,
  KIOSK_MQTT_URL: `mqtt://127.0.0.1:${brokerPort}`,
  KIOSK_REFRESH_CRON: '0 0 1 1 *',
  KIOSK_LOG_LEVEL: 'warn',
});
const floorScript = `const r = await fetch(${JSON.stringify(`${idp.authority}oauth2/v2.0/devicecode`)}, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'client_id=bench&scope=openid' }); console.log((await r.json()).user_code);`;
const sampleApp = await writeUpstreamSample(join(dir, 'sample'), { clientId: 'bench', authority: idp.authority, root: ROOT });
const hasCode = (o: string) => /\b[A-Z0-9]{8,9}\b/.test(o);

const floor: number[] = [];
const sample: number[] = [];
const screen: number[] = [];
const retained: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const f = await startUntil(['--input-type=module', '-e', floorScript], trust, hasCode, ROOT);
  floor.push(f.ms);
  f.child.kill('SIGKILL');
  const s = await startUntil([sampleApp], trust, hasCode, ROOT);
  sample.push(s.ms);
  s.child.kill('SIGKILL');
  const t0 = performance.now();
  const a = await startUntil([join(ROOT, 'dist/main.js')], agentEnv(`boot-${i}`), (o) => /Code: \w+/.test(o), ROOT);
  screen.push(a.ms);
  while (!retainedAt.has(`kiosk/boot-${i}/state`) && performance.now() - t0 < 10_000) await delay(5);
  retained.push((retainedAt.get(`kiosk/boot-${i}/state`) ?? NaN) - t0);
  a.child.kill('SIGKILL');
}

// Signed in and idle: the agent's RSS and CPU, against the sample's RSS once it has its tokens.
// Its own code: the boot rounds' killed agents left theirs pending, and the oldest would be approved.
const idle = await startUntil([join(ROOT, 'dist/main.js')], agentEnv('idle'), (o) => /Code: \w+/.test(o), ROOT);
await approvePending(idp.controlUrl, /Code: (\w+)/.exec(idle.stdout())?.[1]);
const signedSample = await startUntil(['--require', join(ROOT, 'bench/rss-at-exit.cjs'), sampleApp], trust, hasCode, ROOT);
await approvePending(idp.controlUrl, /\b([A-Z0-9]{8,9})\b/.exec(signedSample.stdout())?.[1]);
await new Promise((r) => signedSample.child.on('exit', r));
const sampleRss = Number(/rss-kb=(\d+)/.exec(signedSample.stderr())?.[1]) / 1024;
for (const t0 = performance.now(); !signedIn.has('kiosk/idle/state'); await delay(100)) {
  if (performance.now() - t0 > 30_000) throw new Error('the idle agent did not sign in');
}
await delay(10_000);
const agentRss = await rssMiB(idle.child.pid ?? 0);
const cpu0 = await cpuSeconds(idle.child.pid ?? 0);
await delay(IDLE_S * 1000);
const idleCpu = ((await cpuSeconds(idle.child.pid ?? 0)) - cpu0) / IDLE_S;
idle.child.kill('SIGKILL');

const install = await installSizes();

const ms = (x: number) => `${x.toFixed(0)} ms`;
const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const rows: Array<[string, string, string]> = [
  ['floor: bare node, one HTTPS POST to /devicecode', ms(median(floor)), '1.00× floor'],
  ['upstream sample: start → device-code message', ms(median(sample)), `${x(median(sample), median(floor))} floor`],
  ['kiosk-agent: boot → code on screen', ms(median(screen)), `${x(median(screen), median(floor))} floor, ${x(median(screen), median(sample))} sample`],
  ['kiosk-agent: boot → code retained on MQTT', ms(median(retained)), `${x(median(retained), median(floor))} floor, ${x(median(retained), median(sample))} sample`],
  ['RSS: kiosk-agent signed in, idle', `${agentRss.toFixed(1)} MiB`, `${x(agentRss, sampleRss)} sample (${sampleRss.toFixed(1)} MiB after sign-in)`],
  [`CPU: kiosk-agent idle between refreshes (${IDLE_S} s)`, `${(idleCpu * 100).toFixed(3)} %`, 'of one core'],
  ['install: npm ci --omit=dev', `${(install.product / 2 ** 20).toFixed(1)} MiB`, `${x(install.product, install.mission)} the five mission packages (${(install.mission / 2 ** 20).toFixed(1)} MiB)`],
];
console.log(`\nmedians of ${ROUNDS} runs, side by side (node ${process.version}, ${process.arch})\n`);
for (const [what, value, ratio] of rows) console.log(`${what.padEnd(50)} ${value.padStart(10)}  ${ratio}`);

await subscriber.endAsync();
broker.kill('SIGTERM');
await idp.close();
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
