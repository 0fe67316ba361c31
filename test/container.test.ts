import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AGENT_IMAGE, buildImages, IDP_IMAGE, inspect, must, needEngine, ROOT, sh, waitHealthy } from './helpers/container.js';

/** A valid configuration whose provider cannot be reached: the agent runs and stays `offline`. */
const OFFLINE_ENV = ['-e', 'KIOSK_CLIENT_ID=c1a5e7d0-4b2f-4d8a-9e36-0f7b8c2d1a54', '-e', 'KIOSK_AUTHORITY=https://127.0.0.1:9/tenant/', '-e', 'KIOSK_LOG_LEVEL=warn'];
const HARDENED = ['--read-only', '--tmpfs', '/tmp', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true'];

const version = async (): Promise<string> => (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

test('the images build from the checkout: runtime with the bundled agent only, the idp apart', async (t) => {
  if (!(await needEngine(t))) return;
  const { ms } = await buildImages();
  t.diagnostic(`agent and idp images built in ${(ms / 1000).toFixed(1)} s`);

  const image = JSON.parse(await must('docker', ['image', 'inspect', AGENT_IMAGE]))[0] as {
    Size: number;
    Config: { User: string; Healthcheck?: { Test: string[] }; Labels: Record<string, string>; Volumes: Record<string, unknown>; Entrypoint: string[] };
  };
  t.diagnostic(`runtime image ${(image.Size / 1e6).toFixed(0)} MB`);
  assert.equal(image.Config.User, 'node');
  assert.deepEqual(image.Config.Healthcheck?.Test, ['CMD', 'kiosk-agent', 'health']);
  assert.ok('/data' in image.Config.Volumes);
  assert.equal(image.Config.Labels['org.opencontainers.image.title'], 'kiosk-agent');
  assert.equal(image.Config.Labels['org.opencontainers.image.version'], await version());
  assert.equal(image.Config.Labels['org.opencontainers.image.licenses'], 'MIT');
  // The base is ~220 MB (Node alone is ~120 MB); the agent adds its code and production dependencies.
  const base = JSON.parse(await must('docker', ['image', 'inspect', 'node:22-bookworm-slim']))[0] as { Size: number };
  assert.ok(image.Size - base.Size < 40e6, `the agent adds ${((image.Size - base.Size) / 1e6).toFixed(1)} MB to its base`);

  // The agent is one bundle (dist/main.js and its chunks): no node_modules, only the licences of what it holds.
  const listing = await must('docker', [
    'run', '--rm', '--entrypoint', 'sh', AGENT_IMAGE, '-c',
    'ls /app/dist; ls /app/licenses/node_modules; test ! -e /app/node_modules && echo no-node-modules',
  ]);
  const names = listing.split('\n');
  for (const gone of ['idp', 'demo.js', 'typescript', 'tsx', 'node-forge', 'eslint', 'playwright-core', 'jsqr']) assert.ok(!names.includes(gone), `${gone} is in the runtime image`);
  for (const needed of ['main.js', 'chunks', 'no-node-modules', '@azure', 'mqtt', 'pino', 'qrcode', 'node-cron', 'jose']) assert.ok(names.includes(needed), `${needed} is missing from the runtime image`);

  const idp = await must('docker', ['run', '--rm', '--entrypoint', 'sh', IDP_IMAGE, '-c', 'id -un; ls /app/dist/idp/main.js /app/node_modules/node-forge/package.json /app/node_modules/jose/package.json']);
  assert.match(idp, /^node\n/);
});

test('runs as non-root with a read-only root filesystem: --version, config, health, and docker stop exits 0 at once', async (t) => {
  if (!(await needEngine(t))) return;
  await buildImages();

  assert.equal((await must('docker', ['run', '--rm', ...HARDENED, AGENT_IMAGE, '--version'])).trim(), await version());

  const config = await sh('docker', ['run', '--rm', ...HARDENED, ...OFFLINE_ENV, '-e', 'KIOSK_MQTT_PASSWORD=hunter2-secret', AGENT_IMAGE, 'config']);
  assert.equal(config.code, 0, config.stderr);
  const effective = JSON.parse(config.stdout) as Record<string, string | null>;
  assert.equal(effective.KIOSK_CACHE_PATH, '/data/token-cache.json');
  assert.equal(effective.KIOSK_MQTT_PASSWORD, '********');
  assert.doesNotMatch(config.stdout + config.stderr, /hunter2-secret/);

  const invalid = await sh('docker', ['run', '--rm', ...HARDENED, AGENT_IMAGE, 'config']);
  assert.equal(invalid.code, 78, 'missing settings are exit code 78');
  assert.match(invalid.stderr, /KIOSK_CLIENT_ID/);

  // A broker beside it on a private network (health includes the MQTT connection).
  const tag = `kiosk-agent-test-${process.pid}-${Date.now()}`;
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-container-'));
  await writeFile(join(dir, 'mosquitto.conf'), 'listener 1883\nallow_anonymous true\n');
  await chmod(join(dir, 'mosquitto.conf'), 0o644);
  await must('docker', ['network', 'create', tag]);
  const ids: string[] = [];
  t.after(async () => {
    for (const c of ids) await sh('docker', ['rm', '-f', '-v', c]);
    await sh('docker', ['network', 'rm', tag]);
    await sh('docker', ['volume', 'rm', '-f', tag]);
    await rm(dir, { recursive: true, force: true });
  });
  ids.push((await must('docker', ['run', '-d', '--network', tag, '--network-alias', 'broker', '-v', `${dir}/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro`, 'eclipse-mosquitto:2'])).trim());
  const id = (
    await must('docker', [
      'run', '-d', ...HARDENED, ...OFFLINE_ENV, '-e', 'KIOSK_MQTT_URL=mqtt://broker:1883', '--network', tag,
      '-v', `${tag}:/data`, '--health-interval', '1s', '--health-start-period', '0s', AGENT_IMAGE,
    ])
  ).trim();
  ids.push(id);
  const tookMs = await waitHealthy(id, 30_000);
  t.diagnostic(`healthy ${tookMs} ms after start`);
  assert.equal((await must('docker', ['exec', id, 'id', '-u'])).trim(), '1000');
  const writes = await sh('docker', ['exec', id, 'sh', '-c', 'touch /app/x 2>&1 || true; touch /etc/x 2>&1 || true; ls -ln /data']);
  assert.match(writes.stdout, /\/app\/x.*Read-only file system/);
  assert.match(writes.stdout, /\/etc\/x.*Read-only file system/);
  assert.match(writes.stdout, /1000 +1000 .* status\.json/, 'the agent keeps its status in /data');
  assert.equal((await must('docker', ['exec', id, 'kiosk-agent', 'health'])).trim(), 'healthy');

  const stopping = Date.now();
  await must('docker', ['stop', '--time', '10', id]);
  const stopMs = Date.now() - stopping;
  const state = (await inspect(id)).State;
  t.diagnostic(`docker stop took ${stopMs} ms, exit code ${state.ExitCode}`);
  assert.equal(state.ExitCode, 0);
  assert.ok(stopMs < 5_000, `docker stop took ${stopMs} ms`);
  const logs = await sh('docker', ['logs', id]);
  assert.match(logs.stdout, /stopped/i, 'the display shows the stop');
});
