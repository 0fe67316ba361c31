import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'mqtt';
import { freePort, Observer } from './broker.js';
import { isAlive } from '../../src/health.js';

export const ROOT = resolve(new URL('../..', import.meta.url).pathname);
/** Makes an engine and the base images available on a machine with no registry (see .ci/run). */
export const CONTAINER_ENV = process.env.CONTAINER_ENV_SCRIPT ?? resolve(ROOT, '../shared/tools/container-env.sh');
export const AGENT_IMAGE = process.env.KIOSK_TEST_AGENT_IMAGE ?? 'kiosk-agent:test';
export const IDP_IMAGE = process.env.KIOSK_TEST_IDP_IMAGE ?? 'kiosk-agent-idp:test';
/** The demo profile's tenant and provider, as docker-compose.yml and docker/demo/agent.env name them. */
export const DEMO_AUTHORITY = 'https://idp:8443/7d1e6f2a-0c59-4b7e-9a43-2f6c1d8e5b90/';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded); never rejects on a non-zero exit. */
export function sh(cmd: string, args: readonly string[], o: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(cmd, args, { cwd: o.cwd ?? ROOT, env: o.env ?? process.env, timeout: o.timeoutMs ?? 120_000, maxBuffer: 64 << 20 }, (e, stdout, stderr) => {
      const code = e === null ? 0 : typeof e.code === 'number' ? e.code : 1;
      done({ code, stdout: String(stdout), stderr: String(stderr) + (e && e.killed ? `\n(killed after ${o.timeoutMs ?? 120_000} ms)` : '') });
    });
  });
}

/** Like `sh`, but a non-zero exit is an error that shows the command's output. */
export async function must(cmd: string, args: readonly string[], o: Parameters<typeof sh>[2] = {}): Promise<string> {
  const r = await sh(cmd, args, o);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

let engine: Promise<string | undefined> | undefined;

/**
 * Why container tests cannot run here, or undefined when they can. When `docker info` fails or the base
 * images are missing, runs container-env.sh once (it starts or installs the engine and builds the local
 * stand-ins for the base images); only an engine that still cannot be had is a reason to skip.
 */
export function engineProblem(): Promise<string | undefined> {
  engine ??= (async () => {
    const ready = async (): Promise<boolean> =>
      (await sh('docker', ['info'], { timeoutMs: 30_000 })).code === 0 &&
      (await sh('docker', ['image', 'inspect', 'node:22-bookworm-slim', 'eclipse-mosquitto:2'], { timeoutMs: 30_000 })).code === 0;
    if (await ready()) return undefined;
    if (existsSync(CONTAINER_ENV)) {
      const r = await sh('bash', [CONTAINER_ENV], { timeoutMs: 900_000 });
      if (r.code === 0 && (await ready())) return undefined;
      return `no container engine: ${CONTAINER_ENV} failed (${(r.stdout + r.stderr).trim().split('\n').at(-1)})`;
    }
    const info = await sh('docker', ['info'], { timeoutMs: 30_000 });
    return info.code === 0
      ? 'the base images node:22-bookworm-slim and eclipse-mosquitto:2 are missing and there is no container-env.sh to make them'
      : `no container engine: docker info failed (${info.stderr.trim().split('\n').at(-1) ?? info.code}) and there is no ${CONTAINER_ENV}`;
  })();
  return engine;
}

/** Skips the test with the reason when the engine cannot be had; true when it can run. */
export async function needEngine(t: TestContext): Promise<boolean> {
  const problem = await engineProblem();
  if (problem !== undefined) t.skip(problem);
  return problem === undefined;
}

let built: Promise<{ ms: number }> | undefined;

/**
 * Builds the agent and identity provider images from the checkout, once per test process; test files in
 * other processes wait on a lock dir and then hit the build cache, so one build serves the whole run.
 */
export function buildImages(): Promise<{ ms: number }> {
  built ??= withLock(join(tmpdir(), 'kiosk-agent-image-build.lock'), async () => {
    const started = Date.now();
    const version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const common = ['build', '--build-arg', `VERSION=${version}`, '--build-arg', 'REVISION=test'];
    await must('docker', [...common, '--target', 'idp', '-t', IDP_IMAGE, '.'], { timeoutMs: 900_000 });
    await must('docker', [...common, '--target', 'runtime', '-t', AGENT_IMAGE, '.'], { timeoutMs: 900_000 });
    return { ms: Date.now() - started };
  });
  return built;
}

export const ARM64_BASE = 'node:22-bookworm-slim-arm64';
export const ARM64_IMAGE = process.env.KIOSK_TEST_ARM64_IMAGE ?? 'kiosk-agent:test-arm64';
let builtArm64: Promise<{ ms: number }> | undefined;

/**
 * The agent image for linux/arm64 from the arm64 base stand-in: npm and TypeScript run natively
 * (BUILD_IMAGE), the rest under qemu. Shares the build lock, and so the native stages' cache, with buildImages.
 */
export function buildArm64Image(): Promise<{ ms: number }> {
  builtArm64 ??= withLock(join(tmpdir(), 'kiosk-agent-image-build.lock'), async () => {
    const started = Date.now();
    await must('docker', ['build', '--build-arg', `NODE_IMAGE=${ARM64_BASE}`, '--build-arg', 'BUILD_IMAGE=node:22-bookworm-slim', '-t', ARM64_IMAGE, '.'], { timeoutMs: 1_800_000 });
    return { ms: Date.now() - started };
  });
  return builtArm64;
}

/** Why arm64 images cannot be built and run here (no qemu, no arm64 base), or undefined. */
export async function arm64Problem(): Promise<string | undefined> {
  if (process.env.KIOSK_TEST_ARM64 === '0') return 'KIOSK_TEST_ARM64=0: the arm64 run under emulation is turned off';
  const problem = await engineProblem();
  if (problem !== undefined) return problem;
  if ((await sh('docker', ['image', 'inspect', ARM64_BASE])).code !== 0 && existsSync(CONTAINER_ENV)) {
    const r = await sh('bash', [CONTAINER_ENV, '--arm64'], { timeoutMs: 1_800_000 });
    if (r.code !== 0) return `no arm64 emulation: ${CONTAINER_ENV} --arm64 failed (${(r.stdout + r.stderr).trim().split('\n').at(-1)})`;
  }
  if ((await sh('docker', ['image', 'inspect', ARM64_BASE])).code !== 0) return `no ${ARM64_BASE} image (container-env.sh --arm64 makes it)`;
  const arch = await sh('docker', ['run', '--rm', '--entrypoint', 'uname', ARM64_BASE, '-m'], { timeoutMs: 60_000 });
  return arch.stdout.trim() === 'aarch64' ? undefined : `arm64 binaries do not run here (qemu-aarch64 not registered): ${arch.stderr.trim()}`;
}

/** The linux/arm/v7 Node base docker/armv7-base.sh builds (Debian trixie's armhf nodejs, 20.19). */
export const ARMV7_BASE = process.env.ARMV7_BASE_IMAGE ?? 'kiosk-agent-node:20-trixie-armv7';
export const ARMV7_IMAGE = process.env.KIOSK_TEST_ARMV7_IMAGE ?? 'kiosk-agent:test-armv7';
let builtArmv7: Promise<{ ms: number }> | undefined;

/** Why arm/v7 images cannot be built and run here, or undefined; builds the base with docker/armv7-base.sh when missing. */
export async function armv7Problem(): Promise<string | undefined> {
  if (process.env.KIOSK_TEST_ARMV7 === '0') return 'KIOSK_TEST_ARMV7=0: the arm/v7 run under emulation is turned off';
  const problem = await engineProblem();
  if (problem !== undefined) return problem;
  if (!existsSync('/proc/sys/fs/binfmt_misc/qemu-arm') && existsSync(CONTAINER_ENV)) await sh('bash', [CONTAINER_ENV, '--arm64'], { timeoutMs: 1_800_000 });
  if (!existsSync('/proc/sys/fs/binfmt_misc/qemu-arm')) return 'arm/v7 binaries do not run here (qemu-arm not registered with binfmt_misc)';
  const base = await sh('bash', [join(ROOT, 'docker/armv7-base.sh')], { timeoutMs: 1_800_000, env: { ...process.env, ARMV7_BASE_IMAGE: ARMV7_BASE } });
  if (base.code !== 0) return `no arm/v7 base: docker/armv7-base.sh failed (${(base.stdout + base.stderr).trim().split('\n').at(-1)})`;
  const arch = await sh('docker', ['run', '--rm', '--entrypoint', 'node', ARMV7_BASE, '-p', 'process.arch'], { timeoutMs: 60_000 });
  return arch.stdout.trim() === 'arm' ? undefined : `the arm/v7 base does not run: ${arch.stderr.trim()}`;
}

/** The agent image for linux/arm/v7 on that base: npm and the build native (BUILD_IMAGE), the rest under qemu. */
export function buildArmv7Image(): Promise<{ ms: number }> {
  builtArmv7 ??= withLock(join(tmpdir(), 'kiosk-agent-image-build.lock'), async () => {
    const started = Date.now();
    await must('docker', ['build', '--build-arg', `NODE_IMAGE=${ARMV7_BASE}`, '--build-arg', 'BUILD_IMAGE=node:22-bookworm-slim', '-t', ARMV7_IMAGE, '.'], { timeoutMs: 1_800_000 });
    return { ms: Date.now() - started };
  });
  return builtArmv7;
}

async function withLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 900_000;
  for (;;) {
    try {
      await mkdir(dir);
      await writeFile(join(dir, 'pid'), String(process.pid));
      break;
    } catch {
      const pid = Number(await readFile(join(dir, 'pid'), 'utf8').catch(() => '0'));
      const age = Date.now() - (await stat(dir).then((s) => s.mtimeMs).catch(() => Date.now()));
      if ((pid > 0 && !isAlive(pid)) || (pid === 0 && age > 10_000)) await rm(dir, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`image build lock ${dir} held too long`);
      else await sleep(500);
    }
  }
  try {
    return await work();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}


/** `docker-compose` 1.29 when installed, else Compose v2 (`docker compose`). */
export function composeCommand(): [string, string[]] {
  const paths = (process.env.PATH ?? '').split(':');
  return paths.some((p) => existsSync(join(p, 'docker-compose'))) ? ['docker-compose', []] : ['docker', ['compose']];
}

/** The environment for compose: none of the caller's compose settings leak in. */
export function composeEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(COMPOSE_|MQTT_|AGENT_|IDP_|WEB_|KIOSK_)/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

export interface Ports {
  mqtt: number;
  idp: number;
  control: number;
  web: number;
}

export interface Project {
  readonly name: string;
  readonly ports: Ports;
  readonly env: NodeJS.ProcessEnv;
  /** Runs `docker-compose <args>` for this project (with the demo profile when the project has it). */
  compose(args: readonly string[], timeoutMs?: number): Promise<Run>;
  mustCompose(args: readonly string[], timeoutMs?: number): Promise<string>;
  /** The container id of a service's (first) container. */
  container(service: string): Promise<string>;
  /** Connects an MQTT client from the host to the published broker port and records `filter`. */
  observe(username: string, password: string, filter?: string): Promise<Observer>;
}

export interface ProjectOptions {
  demo?: boolean;
  /** Extra compose settings (shell environment of the compose command). */
  env?: Record<string, string>;
  /** Run compose through this command instead (e.g. deploy/kiosk-compose.sh); it gets the same environment. */
  via?: string;
}

/** A compose project with a unique name and free host ports, taken down with its volumes after the test. */
export async function project(t: TestContext, o: ProjectOptions = {}): Promise<Project> {
  const name = `kat${process.pid}${Math.random().toString(36).slice(2, 7)}`;
  const ports: Ports = { mqtt: await freePort(), idp: await freePort(), control: await freePort(), web: await freePort() };
  const env = composeEnv({
    COMPOSE_PROJECT_NAME: name,
    MQTT_HOST_PORT: String(ports.mqtt),
    IDP_HOST_PORT: String(ports.idp),
    IDP_CONTROL_HOST_PORT: String(ports.control),
    WEB_HOST_PORT: String(ports.web),
    AGENT_IMAGE,
    IDP_IMAGE,
    AGENT_HEALTH_INTERVAL: '2s',
    ...o.env,
  });
  const [cmd, pre] = o.via === undefined ? composeCommand() : [o.via, []];
  const profile = o.demo ? ['--profile', 'demo'] : [];
  const observers: Observer[] = [];
  const self: Project = {
    name,
    ports,
    env,
    compose: (args, timeoutMs = 180_000) => sh(cmd, [...pre, ...profile, ...args], { env, timeoutMs }),
    async mustCompose(args, timeoutMs = 180_000) {
      return must(cmd, [...pre, ...profile, ...args], { env, timeoutMs });
    },
    async container(service) {
      const ids = await must('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${name}`, '--filter', `label=com.docker.compose.service=${service}`]);
      const id = ids.trim().split('\n')[0];
      if (!id) throw new Error(`no ${service} container in project ${name}`);
      return id;
    },
    async observe(username, password, filter = 'kiosk/#') {
      const client = connect(`mqtt://127.0.0.1:${ports.mqtt}`, { username, password, protocolVersion: 5, reconnectPeriod: 500, connectTimeout: 5_000 });
      const observer = new Observer(client);
      observers.push(observer);
      await client.subscribeAsync(filter, { qos: 1 });
      return observer;
    },
  };
  t.after(async () => {
    await Promise.allSettled(observers.map((o) => o.close()));
    const down = await self.compose(['down', '-v', '--remove-orphans', '--timeout', '5'], 120_000);
    if (down.code !== 0) console.error(`compose down of ${name} failed (${down.stderr.trim()}); removing its containers, volumes and networks by label`);
    await removeProject(name);
  });
  return self;
}

/** Removes whatever compose left of a project (containers, volumes, networks), found by its label. */
async function removeProject(name: string): Promise<void> {
  const label = `label=com.docker.compose.project=${name}`;
  const list = async (args: string[]): Promise<string[]> => (await sh('docker', [...args, '--filter', label])).stdout.split('\n').filter(Boolean);
  const containers = await list(['ps', '-aq']);
  if (containers.length > 0) await sh('docker', ['rm', '-f', '-v', ...containers]);
  const volumes = await list(['volume', 'ls', '-q']);
  if (volumes.length > 0) await sh('docker', ['volume', 'rm', '-f', ...volumes]);
  const networks = await list(['network', 'ls', '-q']);
  if (networks.length > 0) await sh('docker', ['network', 'rm', ...networks]);
}

/** Reads KEY=value lines (comments and blanks ignored). */
export async function readEnvFile(path: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

/** The host address that `host-gateway` resolves to inside containers (the default bridge's gateway). */
export async function hostGatewayIp(): Promise<string> {
  const hosts = await must('docker', ['run', '--rm', '--network', 'none', '--add-host', 'gateway.test:host-gateway', '--entrypoint', 'cat', AGENT_IMAGE, '/etc/hosts']);
  const ip = /^(\S+)\s+gateway\.test$/m.exec(hosts)?.[1];
  if (ip === undefined) throw new Error(`host-gateway did not resolve:\n${hosts}`);
  return ip;
}

/** `docker inspect` of one container, parsed. */
export async function inspect(id: string): Promise<{
  State: { Status: string; ExitCode: number; Health?: { Status: string }; StartedAt: string; FinishedAt: string };
  Config: { User: string };
}> {
  return (JSON.parse(await must('docker', ['inspect', id])) as never[])[0] as never;
}

/** Waits for a container's health status (bounded). */
export async function waitHealthy(id: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  let last = '';
  while (Date.now() - started < timeoutMs) {
    last = (await inspect(id)).State.Health?.Status ?? 'none';
    if (last === 'healthy') return Date.now() - started;
    await sleep(250);
  }
  throw new Error(`container ${id.slice(0, 12)} not healthy within ${timeoutMs} ms (last: ${last})`);
}
