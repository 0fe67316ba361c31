import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { AGENT_IMAGE, buildImages, must, needEngine, ROOT, sh, waitHealthy } from './helpers/container.js';

/** A valid configuration whose provider cannot be reached, without MQTT: the agent runs and stays `offline`. */
const OFFLINE_ENV = [
  '-e', 'KIOSK_CLIENT_ID=c1a5e7d0-4b2f-4d8a-9e36-0f7b8c2d1a54', '-e', 'KIOSK_AUTHORITY=https://127.0.0.1:9/tenant/',
  '-e', 'KIOSK_DEVICE_ID=compile-cache-test', '-e', 'KIOSK_MQTT_URL=off', '-e', 'KIOSK_LOG_LEVEL=warn',
];
const HARDENED = ['--read-only', '--tmpfs', '/tmp', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true'];
/** Node's own account of each file's entry, on stderr. */
const DEBUG = ['-e', 'NODE_DEBUG_NATIVE=COMPILE_CACHE'];
const AGENT_CHUNK = /file:\/\/\/app\/dist\/chunks\/agent-\w+\.js/;
/** What Node says as it saves an entry, or finds it needs no saving. */
const SAVED = /to temporary file .*\.\.\.success$|because cache was the same/m;

test('in the image, a boot saves its compiled code in the state volume, the next boot uses it, a damaged entry is compiled again, and NODE_COMPILE_CACHE moves it', async (t) => {
  if (!(await needEngine(t))) return;
  await buildImages();
  const version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const volume = `kiosk-agent-compile-cache-${process.pid}-${Date.now()}`;
  const containers: string[] = [];
  t.after(async () => {
    for (const c of containers) await sh('docker', ['rm', '-f', c]);
    await sh('docker', ['volume', 'rm', '-f', volume]);
  });
  const inVolume = (script: string): Promise<string> => must('docker', ['run', '--rm', ...HARDENED, '-v', `${volume}:/data`, '--entrypoint', 'sh', AGENT_IMAGE, '-c', script]);
  const entries = async (): Promise<string[]> => (await inVolume(`ls /data/compile-cache/${version}/*/ 2>/dev/null || true`)).split('\n').filter(Boolean);
  /** One boot until it is healthy and its entries are saved (5 s after boot), then killed as by a power cut; its stderr. */
  const boot = async (extra: string[] = []): Promise<string> => {
    const id = (await must('docker', ['run', '-d', ...HARDENED, ...OFFLINE_ENV, ...DEBUG, ...extra, '-v', `${volume}:/data`, '--health-interval', '1s', '--health-start-period', '0s', AGENT_IMAGE])).trim();
    containers.push(id);
    await waitHealthy(id, 30_000);
    let stderr = '';
    for (const started = Date.now(); !SAVED.test(stderr) && Date.now() - started < 30_000; await sleep(250)) {
      stderr = (await sh('docker', ['logs', id])).stderr;
    }
    await sleep(1_000); // the rest of the entries, and the removal of other versions'
    await must('docker', ['kill', '--signal', 'KILL', id]);
    return (await sh('docker', ['logs', id])).stderr;
  };

  // An earlier release's entries, which no boot of this one can use.
  await inVolume('mkdir -p /data/compile-cache/0.0.1-old/v22 && echo stale > /data/compile-cache/0.0.1-old/v22/0badc0de');

  const first = await boot();
  const saved = await entries();
  assert.ok(saved.length >= 5, `the boot's modules have entries: ${saved.join(' ')}`);
  assert.match(first, new RegExp(`writing cache for ${AGENT_CHUNK.source} to temporary file \\S+ \\[[\\d ]+\\]\\.\\.\\.success`));
  assert.equal((await inVolume('ls /data/compile-cache')).trim(), version, "another release's entries are removed");
  assert.match(await inVolume(`ls -ln /data/compile-cache/${version}/*/`), /^-rw------- +1 1000 1000 /m, 'the entries are the agent user\'s alone');

  const second = await boot();
  assert.match(second, new RegExp(`cache for ${AGENT_CHUNK.source} was accepted`));
  assert.match(second, new RegExp(`skip ${AGENT_CHUNK.source} because cache was the same`), 'an entry read from the cache is not written again');
  assert.doesNotMatch(second, new RegExp(`writing cache for ${AGENT_CHUNK.source}`), 'nor written again');

  // A torn write (half of the entries cut short) and a damaged disk (the rest with bytes flipped after their header).
  await inVolume(
    `i=0; for f in /data/compile-cache/${version}/*/*; do i=$((i+1)); size=$(wc -c < "$f"); ` +
      `if [ $((i % 2)) = 0 ]; then head -c $((size / 2)) "$f" > /tmp/e; else { head -c 32 "$f"; tail -c +33 "$f" | tr '\\000-\\377' '\\001-\\377\\000'; } > /tmp/e; fi; cat /tmp/e > "$f"; done`,
  );
  const damaged = await boot();
  assert.match(damaged, /cache hash mismatch/, 'flipped bytes are found');
  assert.match(damaged, /cache size mismatch/, 'and a short entry');
  assert.match(damaged, new RegExp(`writing cache for ${AGENT_CHUNK.source} to temporary file \\S+ \\[[\\d ]+\\]\\.\\.\\.success`), 'and compiled again');
  assert.doesNotMatch(damaged, /was accepted/, 'no damaged entry is used');
  assert.deepEqual((await entries()).sort(), saved.sort(), 'the same entries, written anew');

  // NODE_COMPILE_CACHE names where Node keeps it: there, nothing is the agent's to remove, even in its own directory.
  await inVolume('rm -rf /data/compile-cache');
  const nodeCache = ['-e', 'NODE_COMPILE_CACHE=/data/compile-cache'];
  assert.match(await boot(nodeCache), new RegExp(`writing cache for ${AGENT_CHUNK.source} to temporary file /data/compile-cache/v22`));
  // The next boot reads what the first saved (the health checks, Node processes too, save entries of their own).
  assert.match(await boot(nodeCache), new RegExp(`cache for ${AGENT_CHUNK.source} was accepted`), 'its entries stay');
});
