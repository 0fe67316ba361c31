import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { watch } from 'node:fs';
import { appendFile, mkdtemp, readFile, readdir, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { assertCacheShape } from '../../src/auth/cache-file.js';
import { spawnAgent } from '../helpers/agent.js';
import type { AgentProcess, LogLine } from '../helpers/agent.js';
import { startBroker } from '../helpers/broker.js';
import type { Observer } from '../helpers/broker.js';
import { startTestIdp } from '../helpers/idp.js';
import type { TestIdp } from '../helpers/idp.js';
import { CLIENT_ID, kioskEnv, scanForLeaks } from '../helpers/kiosk.js';
import type { ExtraText } from '../helpers/kiosk.js';
import { eventually } from '../helpers/wait.js';
import { eachRound, record, rounds } from './report.js';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const TOPIC = 'kiosk/test-kiosk';
const CACHE = 'token-cache.json';

/**
 * A small tmpfs that only the agents see: a holder process keeps a private mount namespace alive, and
 * each agent is started inside it with nsenter. The test reaches the files through
 * `/proc/<holder>/root`, and the mount disappears with the holder. Needs root (CAP_SYS_ADMIN): as root,
 * `chmod` cannot make a directory unwritable, a read-only mount or a full filesystem can.
 */
interface Volume {
  /** The mount point, as the agent sees it. */
  readonly dir: string;
  /** `name` inside the volume, as the test reaches it. */
  at(name: string): string;
  readonly wrap: string[];
  fill(): Promise<void>;
  free(): Promise<void>;
  readOnly(ro: boolean): Promise<void>;
  dispose(): Promise<void>;
}

async function startVolume(): Promise<Volume> {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-disk-'));
  const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=256k,mode=0700 tmpfs "$1" && echo ready && exec sleep 86400', 'sh', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let said = '';
  holder.stdout.on('data', (b: Buffer) => (said += b.toString()));
  holder.stderr.on('data', (b: Buffer) => (said += b.toString()));
  await eventually(() => said.includes('ready') || holder.exitCode !== null, 5_000, 'the tmpfs mount');
  if (!said.includes('ready')) throw new Error(`cannot mount a tmpfs in a mount namespace: ${said}`);
  const at = (name: string): string => `/proc/${holder.pid}/root${dir}/${name}`;
  // nsenter starts in /, and tsx resolves from the working directory.
  const inside = ['nsenter', `--mount=/proc/${holder.pid}/ns/mnt`, `--wd=${ROOT}`, '--'];
  return {
    dir,
    at,
    wrap: inside,
    async fill() {
      // An agent's write in flight as the filler grows can free a page just after (its rename drops the
      // old file): fill again until the volume stays full.
      await eventually(async () => {
        await appendFile(at('filler'), Buffer.alloc(1024 * 1024)).catch((e: NodeJS.ErrnoException) => assert.equal(e.code, 'ENOSPC'));
        return (await statfs(at('.'))).bavail === 0;
      }, 5_000, 'the volume full', 50);
    },
    async free() {
      await rm(at('filler'), { force: true });
    },
    async readOnly(ro) {
      // EBUSY while a file is open for writing: the agent's writes are short, try again.
      await eventually(
        async () => (await run(inside[0]!, [...inside.slice(1), 'mount', '-o', `remount,${ro ? 'ro' : 'rw'}`, dir]).then(() => true, () => false)),
        5_000,
        `remount ${ro ? 'ro' : 'rw'}`,
        50,
      );
    },
    async dispose() {
      holder.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const canMount = (): boolean =>
  process.getuid?.() === 0 && spawnSync('unshare', ['--mount', 'sh', '-c', 'mount -t tmpfs tmpfs /mnt'], { stdio: 'ignore' }).status === 0;

/** `kiosk-agent health` as a HEALTHCHECK inside the volume's namespace would run it. */
async function health(volume: Volume, idp: TestIdp): Promise<{ code: number; stderr: string }> {
  const [command, ...args] = [...volume.wrap, process.execPath, '--import', 'tsx', join(ROOT, 'src/main.ts'), 'health'];
  const env = { PATH: process.env.PATH ?? '', KIOSK_CLIENT_ID: CLIENT_ID, KIOSK_AUTHORITY: idp.authority, KIOSK_CACHE_PATH: join(volume.dir, CACHE) };
  return run(command!, args, { env }).then(
    ({ stderr }) => ({ code: 0, stderr }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );
}

const cacheErrors = (agent: AgentProcess): LogLine[] => agent.logs().filter((l) => l.level === 'error' && l.msg.includes('token cache'));
const events = (agent: AgentProcess, event: string): number => agent.logs().filter((l) => l.event === event).length;

/** The cache file as the agent left it: must parse as an MSAL cache holding an account. */
async function assertWholeCache(bytes: Buffer, what: string): Promise<void> {
  const cache = JSON.parse(bytes.toString('utf8')) as Record<string, object>;
  assertCacheShape(cache);
  assert.ok(Object.keys(cache.Account ?? {}).length === 1, `${what}: the cache holds the account`);
}

type Fault = 'ENOSPC' | 'EROFS';
interface Variant {
  name: string;
  fault: Fault;
  /** The fault is there before the agent starts, or comes once it is signed in. */
  atBoot: boolean;
}

/** Quick mode runs the first two: one of each fault, one at boot and one on a running agent. */
const VARIANTS: Variant[] = [
  { name: 'fills while signed in', fault: 'ENOSPC', atBoot: false },
  { name: 'read-only at boot', fault: 'EROFS', atBoot: true },
  { name: 'full at boot', fault: 'ENOSPC', atBoot: true },
  { name: 'read-only while signed in', fault: 'EROFS', atBoot: false },
];

test('disk full and read-only cache directory: signed in from memory, one clear error, the file never damaged', { skip: !canMount() && 'needs root to mount a tmpfs in a mount namespace', timeout: 10 * 60_000 }, async (t) => {
  const idp = await startTestIdp({ deviceCodeInterval: 1 });
  const broker = await startBroker();
  const mqtt = await broker.observe();
  const agents: AgentProcess[] = [];
  const extra: ExtraText[] = [];
  t.after(async () => {
    for (const a of agents) await a.stop('SIGKILL');
    await broker.dispose();
    await idp.close();
  });

  const total = rounds(VARIANTS.length + 2, 2);
  const { failures, errors } = await eachRound(total, async (i) => {
    const v = VARIANTS[i % VARIANTS.length]!;
    const volume = await startVolume();
    try {
      await diskRound(v, volume, idp, broker.url, mqtt, agents);
    } finally {
      for (const a of agents) await a.stop('SIGKILL');
      // Everything the agents wrote besides the cache is scanned for tokens.
      for (const name of await readdir(volume.at('.')).catch(() => []))
        if (!name.startsWith(CACHE)) extra.push([`${v.name}: ${name}`, await readFile(volume.at(name), 'utf8').catch(() => '')]);
      await volume.dispose();
    }
  });

  const scan = await scanForLeaks(agents, idp, mqtt, extra);
  record({ scenario: 'disk full / read-only cache dir', rounds: total, failures, bytesScanned: scan.bytes, leaks: scan.leaks.length, note: VARIANTS.slice(0, total).map((v) => v.name).join(', ') });
  assert.equal(failures, 0, errors.join('\n'));
  assert.deepEqual(scan.leaks, []);
});

async function diskRound(v: Variant, volume: Volume, idp: TestIdp, mqttUrl: string, mqtt: Observer, agents: AgentProcess[]): Promise<void> {
  const env = { ...kioskEnv(idp, mqttUrl), KIOSK_REFRESH_CRON: '*/1 * * * * *' };
  const cachePath = join(volume.dir, CACHE);
  const breakIt = (): Promise<void> => (v.fault === 'ENOSPC' ? volume.fill() : volume.readOnly(true));
  const mendIt = (): Promise<void> => (v.fault === 'ENOSPC' ? volume.free() : volume.readOnly(false));
  const start = async (): Promise<AgentProcess> => {
    const agent = await spawnAgent({ env, dir: volume.dir, wrap: volume.wrap });
    agents.push(agent);
    return agent;
  };

  if (v.atBoot) await breakIt();
  const spawned = Date.now();
  const agent = await start();
  await agent.waitForState('awaiting_sign_in');
  const shown = await mqtt.waitFor(`${TOPIC}/state`, (m) => m.at >= spawned && m.text.includes('"user_code"'), 10_000);
  await idp.approve((JSON.parse(shown.text) as { user_code: string }).user_code);
  await agent.waitForState('signed_in');

  let before: Buffer | undefined;
  if (!v.atBoot) {
    await eventually(async () => (await readFile(volume.at(CACHE)).catch(() => undefined)) !== undefined, 10_000, 'the cache written while the disk is fine');
    before = await readFile(volume.at(CACHE));
    await breakIt();
  }

  // Every write attempt opens a new temp file: counting them shows whether the agent spins.
  const temps = new Set<string>();
  const watcher = watch(volume.at('.'), (_, name) => name?.endsWith('.tmp') && temps.add(name));
  const refreshesBefore = events(agent, 'refresh_succeeded');
  let failure: LogLine;
  try {
    failure = await agent.waitForLog((l) => l.level === 'error' && l.msg.includes('token cache') && l.code === v.fault, 15_000, `the ${v.fault} cache error`);
    await agent.waitForLog(() => events(agent, 'refresh_succeeded') >= refreshesBefore + 3, 20_000, 'three refreshes while the disk is broken');
  } finally {
    watcher.close();
  }
  const refreshes = events(agent, 'refresh_succeeded') - refreshesBefore;

  // One clear error per failure streak, naming the file, the cause and the fix.
  assert.equal(cacheErrors(agent).length, 1, `one cache error, not one per write: ${JSON.stringify(cacheErrors(agent))}`);
  assert.equal(failure.path, cachePath);
  assert.match(String(failure.fix), v.fault === 'ENOSPC' ? /free .*space/i : /read-only|writable/i, `a fix in ${JSON.stringify(failure)}`);
  assert.match(String(failure.fix), /KIOSK_CACHE_PATH/);
  const logs = agent.logs();
  const statusWarnings = logs.filter((l) => l.msg.includes('status file') && l.level === 'warn');
  assert.ok(statusWarnings.length <= 1, `the status file's failure is told once: ${statusWarnings.length} lines`);
  // Once every writer has failed once, further refreshes (each a failed write) add no warnings.
  const steady = logs.filter((l) => l.event === 'refresh_succeeded')[refreshesBefore + 1]!;
  const again = logs.slice(logs.indexOf(steady)).filter((l) => l.level === 'warn' || l.level === 'error');
  assert.deepEqual(again.map((l) => l.msg), [], 'warned again on a later write');
  assert.ok(temps.size <= 3 * (refreshes + 2), `${temps.size} write attempts for ${refreshes} refreshes: the agent spins`);
  // Still signed in from memory, never a sign-in loop or a crash.
  assert.equal(agent.child.exitCode, null, 'the agent is still running');
  const states = agent.states();
  assert.deepEqual(states.slice(states.indexOf('signed_in')), states.slice(states.indexOf('signed_in')).map(() => 'signed_in'), `stayed signed in: ${states.join(' → ')}`);
  await eventually(() => (JSON.parse(mqtt.last(`${TOPIC}/state`)?.text ?? '{}') as { state?: string }).state === 'signed_in', 5_000, 'signed_in on MQTT');
  if (v.atBoot) {
    // No status could ever be written: health says so and why, not that the agent is not running.
    const h = await health(volume, idp);
    assert.equal(h.code, 1, h.stderr);
    assert.match(h.stderr, new RegExp(v.fault), h.stderr);
  }
  if (before !== undefined) assert.deepEqual(await readFile(volume.at(CACHE)), before, 'the cache file is untouched by the failed writes');
  else assert.deepEqual((await readdir(volume.at('.'))).filter((f) => f.startsWith(CACHE)), [], 'no partial cache file was left');

  if (!v.atBoot && v.fault === 'EROFS') {
    // Stopped while still broken: exit 0, and the older cache still signs the next boot in.
    assert.equal(await agent.stop('SIGTERM'), 0);
    await assertWholeCache(await readFile(volume.at(CACHE)), 'after a stop on a read-only volume');
    await mendIt();
    const next = await start();
    await next.waitForState('signed_in');
    assert.deepEqual(next.states().slice(0, 2), ['restoring', 'signed_in']);
    assert.equal(await next.stop('SIGTERM'), 0);
    return;
  }

  await mendIt();
  await agent.waitForLog((l) => l.msg === 'token cache written again', 15_000, 'the cache written once space is back');
  // A full volume may still hold the status file's single page (freed as the filler raced a write):
  // then it never failed and there is nothing to recover; health below shows it current either way.
  if (statusWarnings.length === 1) await agent.waitForLog((l) => l.msg === 'status file written again', 15_000, 'the status file written once space is back');
  const h = await health(volume, idp);
  assert.equal(h.code, 0, `healthy again: ${h.stderr}`);
  const after = await readFile(volume.at(CACHE));
  await assertWholeCache(after, 'after recovery');
  assert.equal(await agent.stop('SIGTERM'), 0);
  // The file written after recovery restores the next boot.
  const next = await start();
  await next.waitForState('signed_in');
  assert.deepEqual(next.states().slice(0, 2), ['restoring', 'signed_in']);
  assert.equal(await next.stop('SIGTERM'), 0);
}
