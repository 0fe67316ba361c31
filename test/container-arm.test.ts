import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import type { Message } from './helpers/broker.js';
import {
  arm64Problem, ARM64_IMAGE, armv7Problem, ARMV7_IMAGE, buildArm64Image, buildArmv7Image, buildImages, inspect, must, project, readEnvFile, ROOT, sh,
} from './helpers/container.js';

// The ARM proofs: the agent image for linux/arm64, and for linux/arm/v7 (the 32-bit Raspberry Pi, on the base
// docker/armv7-base.sh makes: Debian trixie's armhf Node 20.19), built from the checkout and run under qemu
// emulation, each signs a kiosk in end to end with the demo profile's broker and identity provider (those stay native).

const stateIs = (name: string) => (m: Message) => m.text !== '' && (JSON.parse(m.text) as { state: string }).state === name;

interface ArmPlatform {
  readonly platform: string;
  /** How diagnostics name it. */
  readonly label: string;
  readonly image: string;
  /** `process.arch` inside. */
  readonly arch: string;
  readonly problem: () => Promise<string | undefined>;
  readonly build: () => Promise<{ ms: number }>;
  /** The image's architecture as `docker image inspect` gives it. */
  readonly checkImage: (image: { Architecture: string; Variant?: string }) => void;
  /** Settings for `config` besides the client id and authority, and what to check in its output. */
  readonly configEnv: readonly string[];
  readonly checkConfig: (values: Record<string, string>) => void;
  /** Checks of the image's own Node, run before `config`. */
  readonly checkNode?: (t: TestContext) => Promise<void>;
}

const PLATFORMS: readonly ArmPlatform[] = [
  {
    platform: 'linux/arm64', label: 'arm64', image: ARM64_IMAGE, arch: 'arm64', problem: arm64Problem, build: buildArm64Image,
    checkImage: (image) => assert.equal(image.Architecture, 'arm64'),
    configEnv: ['-e', 'KIOSK_DEVICE_ID=arm64-test'],
    checkConfig: (values) => assert.equal(values.KIOSK_AUTHORITY, 'https://contoso.ciamlogin.com/'),
  },
  {
    platform: 'linux/arm/v7', label: 'arm/v7', image: ARMV7_IMAGE, arch: 'arm', problem: armv7Problem, build: buildArmv7Image,
    checkImage: (image) => assert.deepEqual([image.Architecture, image.Variant], ['arm', 'v7']),
    configEnv: ['-e', 'TZ=Europe/Berlin', '-e', 'KIOSK_DEVICE_ID=armv7-test'],
    checkConfig: (values) => assert.equal(values.TZ, 'Europe/Berlin', 'the zone is known to this Node'),
    checkNode: async (t) => {
      const node = (await must('docker', ['run', '--rm', '--entrypoint', 'node', ARMV7_IMAGE, '-p', 'process.arch + " " + process.versions.node'])).trim();
      t.diagnostic(`node under qemu-arm: ${node}`);
      const [arch, nodeVersion = ''] = node.split(' ');
      assert.equal(arch, 'arm');
      const [major = 0, minor = 0] = nodeVersion.split('.').map(Number);
      assert.ok(major > 20 || (major === 20 && minor >= 19), `Node ${nodeVersion} is below the floor 20.19`);
    },
  },
];

for (const arm of PLATFORMS) {
  test(`${arm.platform} under emulation: the image builds, runs --version and config, and signs in end to end with compose`, async (t) => {
    const problem = await arm.problem();
    if (problem !== undefined) return void t.skip(problem);
    await buildImages();
    const { ms } = await arm.build();
    t.diagnostic(`${arm.label} image built in ${(ms / 1000).toFixed(1)} s`);
    const image = JSON.parse(await must('docker', ['image', 'inspect', arm.image]))[0] as { Architecture: string; Variant?: string; Size: number };
    arm.checkImage(image);
    t.diagnostic(`${arm.label} runtime image ${(image.Size / 1e6).toFixed(0)} MB`);

    let started = Date.now();
    const version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    assert.equal((await must('docker', ['run', '--rm', '--read-only', arm.image, '--version'])).trim(), version);
    await arm.checkNode?.(t);
    const config = await sh('docker', [
      'run', '--rm', '--read-only', '-e', 'KIOSK_CLIENT_ID=c1a5e7d0-4b2f-4d8a-9e36-0f7b8c2d1a54', '-e', 'KIOSK_AUTHORITY=https://contoso.ciamlogin.com/', ...arm.configEnv, arm.image, 'config',
    ]);
    assert.equal(config.code, 0, config.stderr);
    arm.checkConfig(JSON.parse(config.stdout) as Record<string, string>);
    t.diagnostic(`--version and config under qemu in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    started = Date.now();
    const p = await project(t, { demo: true, env: { AGENT_IMAGE: arm.image } });
    await p.mustCompose(['up', '-d', '--no-build']);
    const demo = await readEnvFile(join(ROOT, 'docker/demo.env'));
    const watch = await p.observe(demo.MQTT_OPERATOR_USERNAME ?? '', demo.MQTT_OPERATOR_PASSWORD ?? '');
    const awaiting = JSON.parse((await watch.waitFor('kiosk/kiosk-demo/state', stateIs('awaiting_sign_in'), 180_000)).text) as { user_code: string };
    t.diagnostic(`${arm.label} agent awaiting_sign_in ${((Date.now() - started) / 1000).toFixed(1)} s after up`);
    const res = await fetch(`http://127.0.0.1:${p.ports.control}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_code: awaiting.user_code }),
    });
    assert.equal(res.status, 200);
    await watch.waitFor('kiosk/kiosk-demo/state', stateIs('signed_in'), 120_000);
    t.diagnostic(`${arm.label} agent signed_in ${((Date.now() - started) / 1000).toFixed(1)} s after up`);
    assert.equal((await must('docker', ['exec', await p.container('agent'), 'node', '-p', 'process.arch'])).trim(), arm.arch);

    const from = watch.messages.length;
    await p.mustCompose(['stop', 'agent']);
    await watch.waitFor('kiosk/kiosk-demo/availability', (m) => m.text === 'offline', 10_000, from);
    assert.equal((await inspect(await p.container('agent'))).State.ExitCode, 0);
    t.diagnostic(`${arm.label} end to end in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
}
