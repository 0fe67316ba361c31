import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileCacheDir, removeOtherVersions } from '../src/compile-cache.js';

// Turning the cache on, saving it before a power cut and reading it on the next boot, damaged or not, is
// proven in the image, on the Node it ships (test/container-compile-cache.test.ts).

test('the compile cache in the state directory keeps this agent version\'s entries and removes the others', async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'kiosk-compile-cache-'));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  for (const v of ['0.0.9', '0.1.0', '1.0.0-rc.1']) {
    await mkdir(join(compileCacheDir(stateDir, v), 'v22.1.0-x64-0-0'), { recursive: true });
    await writeFile(join(compileCacheDir(stateDir, v), 'v22.1.0-x64-0-0', 'entry'), 'compiled');
  }
  await removeOtherVersions(stateDir, '0.1.0');
  assert.deepEqual(await readdir(join(stateDir, 'compile-cache')), ['0.1.0']);
  assert.deepEqual(await readdir(join(compileCacheDir(stateDir, '0.1.0'), 'v22.1.0-x64-0-0')), ['entry']);
});

test('removing other versions\' entries from a state directory that has none is no failure', async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'kiosk-compile-cache-'));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  await removeOtherVersions(stateDir, '0.1.0');
  assert.deepEqual(await readdir(stateDir), []);
});
