import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { eventually } from './helpers/wait.js';

const ROOT = new URL('..', import.meta.url).pathname;

interface Demo {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  out(): string;
  err(): string;
}

/** `npm run demo` as a person starts it, in its own process group (as a terminal's job is). */
function startDemo(t: TestContext, dir: string): Demo {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/demo.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', KIOSK_DEMO_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  t.after(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  return { child, out: () => out, err: () => err };
}

const controlOf = (demo: Demo): string => {
  const url = /control API\s+(\S+)/.exec(demo.err())?.[1];
  assert.ok(url, `the demo names its control API:\n${demo.err()}`);
  return url;
};

async function deviceCodes(control: string): Promise<number> {
  const requests = (await (await fetch(new URL('requests', control))).json()) as { endpoint: string }[];
  return requests.filter((r) => r.endpoint === 'devicecode').length;
}

/** Processes whose process group is `pgid` (from /proc; the test runs on Linux). */
async function inGroup(pgid: number): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') found.push(`${pid} ${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}`);
  }
  return found;
}

test('npm run demo: a code, approval signs in, Ctrl-C stops; run again it signs in silently on the same authority; SIGHUP leaves no process', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-demo-'));
  t.after(() => rm(dir, { recursive: true, force: true }));

  const first = startDemo(t, dir);
  await eventually(() => /Code: \w+/.test(first.out()), 20_000, 'a code on the demo screen');
  assert.match(first.err(), /Open https:\/\/127\.0\.0\.1:\d+\/device/);
  const authority = /identity provider\s+(\S+)/.exec(first.err())?.[1];
  const userCode = /Code: (\w+)/.exec(first.out())?.[1];
  const approved = await fetch(new URL('approve', controlOf(first)), { method: 'POST', body: JSON.stringify({ user_code: userCode }) });
  assert.equal(approved.status, 200);
  await eventually(() => first.out().includes('Signed in as'), 20_000, 'the signed-in view');
  first.child.kill('SIGINT');
  const [code] = await once(first.child, 'exit');
  assert.equal(code, 0, first.err());
  assert.match(first.err(), /demo stopped/);
  assert.deepEqual(await inGroup(first.child.pid!), [], 'Ctrl-C left no process of the demo');

  // Stop and start it again: the same authority, so the cache applies and no code is asked for.
  const second = startDemo(t, dir);
  await eventually(() => second.out().includes('Signed in as'), 30_000, 'a silent sign-in on the second run');
  assert.equal(/identity provider\s+(\S+)/.exec(second.err())?.[1], authority, 'the provider kept its authority');
  assert.doesNotMatch(second.out(), /Code: \w+/, 'no code on the second run');
  assert.equal(await deviceCodes(controlOf(second)), 0, 'the provider was asked for no device code');
  const broker = /MQTT broker\s+mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(second.err())?.[1];

  // Closing the terminal: SIGHUP to the demo's whole process group, Mosquitto included.
  const pgid = second.child.pid!;
  assert.ok((await inGroup(pgid)).length >= 2, 'the agent (and Mosquitto) run in the demo\'s group');
  process.kill(-pgid, 'SIGHUP');
  const [hupCode] = await once(second.child, 'exit');
  assert.equal(hupCode, 0, second.err());
  await eventually(async () => (await inGroup(pgid)).length === 0, 10_000, `no process left in group ${pgid} (${(await inGroup(pgid)).join(', ')})`);
  if (broker !== undefined) {
    const refused = await fetch(`http://127.0.0.1:${broker}/`).then(() => false, () => true);
    assert.ok(refused, 'the broker port is closed');
  }
});
