import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Message } from './helpers/broker.js';
import { armv7Problem, ARMV7_IMAGE, buildArmv7Image, buildImages, inspect, must, project, readEnvFile, ROOT, sh } from './helpers/container.js';

// The 32-bit Raspberry Pi proof: the agent image for linux/arm/v7, built from the checkout on the base
// docker/armv7-base.sh makes (Debian trixie's armhf Node 20.19) and run under qemu-arm, signs a kiosk in end
// to end with the demo profile's broker and identity provider (those stay native).

const stateIs = (name: string) => (m: Message) => m.text !== '' && (JSON.parse(m.text) as { state: string }).state === name;

test('linux/arm/v7 under emulation: the image builds, runs --version and config, and signs in end to end with compose', async (t) => {
  const problem = await armv7Problem();
  if (problem !== undefined) return void t.skip(problem);
  await buildImages();
  const { ms } = await buildArmv7Image();
  t.diagnostic(`arm/v7 image built in ${(ms / 1000).toFixed(1)} s`);
  const image = JSON.parse(await must('docker', ['image', 'inspect', ARMV7_IMAGE]))[0] as { Architecture: string; Variant?: string; Size: number };
  assert.deepEqual([image.Architecture, image.Variant], ['arm', 'v7']);
  t.diagnostic(`arm/v7 runtime image ${(image.Size / 1e6).toFixed(0)} MB`);

  const version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal((await must('docker', ['run', '--rm', '--read-only', ARMV7_IMAGE, '--version'])).trim(), version);
  const node = (await must('docker', ['run', '--rm', '--entrypoint', 'node', ARMV7_IMAGE, '-p', 'process.arch + " " + process.versions.node'])).trim();
  t.diagnostic(`node under qemu-arm: ${node}`);
  const [arch, nodeVersion = ''] = node.split(' ');
  assert.equal(arch, 'arm');
  const [major = 0, minor = 0] = nodeVersion.split('.').map(Number);
  assert.ok(major > 20 || (major === 20 && minor >= 19), `Node ${nodeVersion} is below the floor 20.19`);
  const config = await sh('docker', [
    'run', '--rm', '--read-only', '-e', 'KIOSK_CLIENT_ID=c1a5e7d0-4b2f-4d8a-9e36-0f7b8c2d1a54', '-e', 'KIOSK_AUTHORITY=https://contoso.ciamlogin.com/', '-e', 'TZ=Europe/Berlin', '-e', 'KIOSK_DEVICE_ID=armv7-test', ARMV7_IMAGE, 'config',
  ]);
  assert.equal(config.code, 0, config.stderr);
  assert.equal((JSON.parse(config.stdout) as Record<string, string>).TZ, 'Europe/Berlin', 'the zone is known to this Node');

  const started = Date.now();
  const p = await project(t, { demo: true, env: { AGENT_IMAGE: ARMV7_IMAGE } });
  await p.mustCompose(['up', '-d', '--no-build']);
  const demo = await readEnvFile(join(ROOT, 'docker/demo.env'));
  const watch = await p.observe(demo.MQTT_OPERATOR_USERNAME ?? '', demo.MQTT_OPERATOR_PASSWORD ?? '');
  const awaiting = JSON.parse((await watch.waitFor('kiosk/kiosk-demo/state', stateIs('awaiting_sign_in'), 180_000)).text) as { user_code: string };
  t.diagnostic(`arm/v7 agent awaiting_sign_in ${((Date.now() - started) / 1000).toFixed(1)} s after up`);
  const res = await fetch(`http://127.0.0.1:${p.ports.control}/approve`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user_code: awaiting.user_code }),
  });
  assert.equal(res.status, 200);
  await watch.waitFor('kiosk/kiosk-demo/state', stateIs('signed_in'), 120_000);
  t.diagnostic(`arm/v7 agent signed_in ${((Date.now() - started) / 1000).toFixed(1)} s after up`);
  assert.equal((await must('docker', ['exec', await p.container('agent'), 'node', '-p', 'process.arch'])).trim(), 'arm');

  const from = watch.messages.length;
  await p.mustCompose(['stop', 'agent']);
  await watch.waitFor('kiosk/kiosk-demo/availability', (m) => m.text === 'offline', 10_000, from);
  assert.equal((await inspect(await p.container('agent'))).State.ExitCode, 0);
  t.diagnostic(`arm/v7 end to end in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
