import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventually } from './helpers/wait.js';

const ROOT = new URL('..', import.meta.url).pathname;

test('npm run demo: a code on screen, approval signs in, Ctrl-C stops everything', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-demo-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const demo = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/demo.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', KIOSK_DEMO_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => demo.kill('SIGKILL'));
  let out = '';
  let err = '';
  demo.stdout.on('data', (b: Buffer) => (out += b.toString()));
  demo.stderr.on('data', (b: Buffer) => (err += b.toString()));

  await eventually(() => /Code: \w+/.test(out), 20_000, 'a code on the demo screen');
  const controlUrl = /control API\s+(\S+)/.exec(err)?.[1];
  assert.ok(controlUrl, `the demo names its control API:\n${err}`);
  assert.match(err, /Open https:\/\/127\.0\.0\.1:\d+\/device/);
  const userCode = /Code: (\w+)/.exec(out)?.[1];
  const approved = await fetch(new URL('approve', controlUrl), { method: 'POST', body: JSON.stringify({ user_code: userCode }) });
  assert.equal(approved.status, 200);
  await eventually(() => out.includes('Signed in as'), 20_000, 'the signed-in view');

  demo.kill('SIGINT');
  const [code] = await once(demo, 'exit');
  assert.equal(code, 0, err);
  assert.match(err, /demo stopped/);
});
