import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AGENT_IMAGE, buildImages, IDP_IMAGE, inspect, must, needEngine, ROOT, sh, waitHealthy } from './helpers/container.js';

/** A valid configuration whose provider cannot be reached: the agent runs and stays `offline`. */
const SETTINGS = ['-e', 'KIOSK_CLIENT_ID=c1a5e7d0-4b2f-4d8a-9e36-0f7b8c2d1a54', '-e', 'KIOSK_AUTHORITY=https://127.0.0.1:9/tenant/'];
const OFFLINE_ENV = [...SETTINGS, '-e', 'KIOSK_DEVICE_ID=container-test', '-e', 'KIOSK_LOG_LEVEL=warn'];
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

test('in a container the device id is set, or comes from BALENA_DEVICE_UUID, a mounted /etc/machine-id or a given hostname; the random hostname is refused', async (t) => {
  if (!(await needEngine(t))) return;
  await buildImages();
  const deviceId = async (...args: string[]): Promise<{ code: number; id?: string | null; stderr: string }> => {
    const r = await sh('docker', ['run', '--rm', ...HARDENED, ...SETTINGS, ...args, AGENT_IMAGE, 'config']);
    return { code: r.code, id: r.code === 0 ? (JSON.parse(r.stdout) as Record<string, string | null>).KIOSK_DEVICE_ID : undefined, stderr: r.stderr };
  };
  const random = await deviceId();
  assert.equal(random.code, 78, 'the container id as hostname is no device id');
  assert.match(random.stderr, /KIOSK_DEVICE_ID: required in a container.*\/etc\/machine-id:\/etc\/machine-id:ro/);
  assert.equal((await deviceId('-e', 'KIOSK_DEVICE_ID=lobby-1')).id, 'lobby-1');
  assert.equal((await deviceId('-e', 'BALENA_DEVICE_UUID=a1b2c3d4e5f60718293a4b5c6d7e8f90')).id, 'a1b2c3d4e5f60718293a4b5c6d7e8f90');
  assert.equal((await deviceId('--hostname', 'kiosk-7')).id, 'kiosk-7');
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-machine-id-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'machine-id'), '3f2a9c0d4b5e6f708192a3b4c5d6e7f8\n');
  await chmod(join(dir, 'machine-id'), 0o444);
  const mounted = await deviceId('-v', `${dir}/machine-id:/etc/machine-id:ro`);
  assert.equal(mounted.id, '3f2a9c0d4b5e6f708192a3b4c5d6e7f8', mounted.stderr);
  // The same mounted file in a second container: the same id (it survives a recreate).
  assert.equal((await deviceId('-v', `${dir}/machine-id:/etc/machine-id:ro`)).id, mounted.id);
});

test('kiosk-agent watch from the agent image turns healthy (it has no agent to check), and its logs are its view only', async (t) => {
  if (!(await needEngine(t))) return;
  await buildImages();
  const id = (
    await must('docker', ['run', '-d', ...HARDENED, '--health-interval', '1s', '--health-start-period', '0s', AGENT_IMAGE, 'watch', '--url', 'mqtt://127.0.0.1:9'])
  ).trim();
  t.after(() => sh('docker', ['rm', '-f', '-v', id]));
  const tookMs = await waitHealthy(id, 30_000);
  t.diagnostic(`watch container healthy ${tookMs} ms after start`);
  assert.match((await must('docker', ['exec', id, 'kiosk-agent', 'health'])).trim(), /^healthy \(kiosk-agent watch/);
  const logs = await sh('docker', ['logs', id]);
  assert.match(logs.stdout, /kiosk-agent watch +mqtt:\/\/127\.0\.0\.1:9/);
});

test('KIOSK_TERMINAL=auto in the image: beside the kiosk page, docker logs holds the JSON logs and no screen; alone, the terminal stays', async (t) => {
  if (!(await needEngine(t))) return;
  await buildImages();
  const started: string[] = [];
  t.after(async () => {
    for (const c of started) await sh('docker', ['rm', '-f', '-v', c]);
  });
  const logsOf = async (display: string): Promise<{ stdout: string; stderr: string }> => {
    const id = (await must('docker', ['run', '-d', ...HARDENED, ...OFFLINE_ENV, '-e', 'KIOSK_MQTT_URL=off', '-e', 'KIOSK_LOG_LEVEL=info', '-e', `KIOSK_DISPLAY=${display}`, AGENT_IMAGE])).trim();
    started.push(id);
    let logs = await sh('docker', ['logs', id]);
    for (let i = 0; i < 60 && !/"state":"offline"/.test(logs.stderr); i++) {
      await new Promise((r) => setTimeout(r, 250));
      logs = await sh('docker', ['logs', id]);
    }
    await must('docker', ['stop', '--time', '10', id]);
    return sh('docker', ['logs', id]);
  };
  const beside = await logsOf('terminal,web');
  assert.equal(beside.stdout, '', 'no screen in docker logs beside the kiosk page');
  assert.match(beside.stderr, /terminal display left out/);
  for (const line of beside.stderr.trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line), `a JSON log line: ${line}`);
  const alone = await logsOf('terminal');
  assert.match(alone.stdout, /Waiting for network|Stopped/i, 'the terminal alone still shows the kiosk');
});
