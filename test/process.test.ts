import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { approveNext, signedInKiosk, startKiosk } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;

/** Runs a kiosk-agent subcommand to completion; resolves with its exit code and output. */
async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test('SIGTERM while polling: stopped, cache flushed, exit 0 within 5 s', async (t) => {
  const { agent } = await startKiosk(t);
  await agent.waitForState('awaiting_sign_in');
  const started = Date.now();
  const code = await agent.stop('SIGTERM');
  const took = Date.now() - started;
  assert.equal(code, 0);
  assert.ok(took < 5_000, `exit took ${took} ms`);
  assert.equal(agent.states().at(-1), 'stopped');
  assert.deepEqual(agent.logs().filter((l) => l.level === 'warn' || l.level === 'error').map((l) => l.msg), [], 'a clean stop warns about nothing');
});

test('a boot logs in order, each line with the time it was logged at, though pino loads after the first frame', async (t) => {
  const { agent } = await startKiosk(t);
  await agent.waitForLog((l) => l.msg === 'MQTT connected');
  const logs = agent.logs();
  const msgs = logs.map((l) => l.msg);
  const order: Array<[string, string]> = [['kiosk-agent starting', 'state'], ['state', 'MQTT starting'], ['MQTT starting', 'MQTT connected']];
  for (const [a, b] of order) assert.ok(msgs.indexOf(a) >= 0 && msgs.indexOf(a) < msgs.indexOf(b), `${a} before ${b}: ${msgs.join(' | ')}`);
  const times = logs.map((l) => Date.parse(String(l.time)));
  assert.deepEqual(times, [...times].sort((x, y) => x - y), 'times never go back');
  // The code's event carries its own clock reading: the line is stamped when it was logged, not when written.
  const issued = logs.find((l) => l.event === 'code_issued');
  assert.ok(issued, msgs.join(' | '));
  assert.ok(Math.abs(Date.parse(String(issued.time)) - Number(issued.at)) <= 5, `time ${String(issued.time)}, at ${String(issued.at)}`);
});

test('health: 0 while the agent runs, non-zero once it has stopped', async (t) => {
  const { idp, agent } = await startKiosk(t);
  await agent.waitForState('awaiting_sign_in');
  // MQTT comes up just after the first frame; the status file records it at once, not at the next heartbeat.
  await agent.waitForLog((l) => l.msg === 'MQTT connected');
  const env = { KIOSK_CLIENT_ID: 'x', KIOSK_AUTHORITY: idp.authority, KIOSK_CACHE_PATH: join(agent.dir, 'token-cache.json') };
  let healthy = await cli(['health'], env);
  await eventually(async () => (healthy = await cli(['health'], env)).code === 0, 10_000, 'healthy once MQTT is connected');
  assert.equal(healthy.code, 0, healthy.stderr);
  await agent.stop('SIGTERM');
  const stopped = await cli(['health'], env);
  assert.equal(stopped.code, 1);
  assert.match(stopped.stderr, /stopped|not running/);
});

test('KIOSK_MQTT_URL=off: a standalone kiosk signs in and is healthy with no broker', async (t) => {
  const { idp, agent, mqtt } = await signedInKiosk(t, { env: { KIOSK_MQTT_URL: 'off' } });
  const env = { KIOSK_CLIENT_ID: 'x', KIOSK_AUTHORITY: idp.authority, KIOSK_CACHE_PATH: join(agent.dir, 'token-cache.json'), KIOSK_MQTT_URL: 'off' };
  const health = await cli(['health'], env);
  assert.equal(health.code, 0, health.stderr);
  const status = JSON.parse(await readFile(join(agent.dir, 'status.json'), 'utf8')) as { mqtt: string };
  assert.equal(status.mqtt, 'disabled');
  assert.ok(!agent.logs().some((l) => /MQTT/.test(l.msg)), 'nothing about MQTT in the log');
  assert.equal(mqtt.messages.filter((m) => m.topic.startsWith('kiosk/')).length, 0, 'nothing published on the test broker');
  const wrong = await cli(['config'], { KIOSK_CLIENT_ID: 'x', KIOSK_AUTHORITY: idp.authority, KIOSK_MQTT_URL: 'of' });
  assert.equal(wrong.code, 78);
  assert.match(wrong.stderr, /KIOSK_MQTT_URL: .*, or off/, 'the fix names off');
});

test('a corrupt cache is moved aside and replaced by a fresh sign-in', async (t) => {
  const kiosk = await signedInKiosk(t);
  await kiosk.agent.stop('SIGTERM');
  await writeFile(join(kiosk.agent.dir, 'token-cache.json'), '{"Account": {"trunc');
  const again = await kiosk.reboot();
  await again.waitForState('awaiting_sign_in');
  assert.ok((await readdir(again.dir)).some((f) => f.startsWith('token-cache.json.corrupt-')), 'the damaged cache was kept aside');
  await approveNext(kiosk.idp);
  await again.waitForState('signed_in');
});

test('boot without the provider: a valid cached token signs in from the cache alone', async (t) => {
  const kiosk = await signedInKiosk(t);
  await kiosk.agent.stop('SIGTERM');
  await kiosk.idp.stop();
  const again = await kiosk.reboot();
  await again.waitForState('signed_in');
  assert.deepEqual(again.transitions(), ['restoring', 'signed_in']);
  await eventually(() => again.stdout().includes('Alice Example'), 5_000, 'verified claims from the saved keys');
});

test('with KIOSK_CACHE_KEY the cache on disk holds no token in clear', async (t) => {
  const { idp, agent } = await signedInKiosk(t, { env: { KIOSK_CACHE_KEY: 'correct horse battery staple 42' } });
  await agent.stop('SIGTERM');
  const onDisk = await readFile(join(agent.dir, 'token-cache.json'), 'utf8');
  const secrets = (await idp.issued()).filter((s) => s.length >= 16);
  assert.ok(secrets.length >= 3);
  for (const s of secrets) assert.ok(!onDisk.includes(s), 'a token is readable in the encrypted cache');
});

test('KIOSK_REMEMBER=false: nothing token-bearing on disk, a cache left by an earlier run removed, a code at every boot; health says so', async (t) => {
  const kiosk = await signedInKiosk(t);
  await kiosk.agent.stop('SIGTERM');
  assert.ok((await readdir(kiosk.agent.dir)).includes('token-cache.json'), 'remembered by default');
  await writeFile(join(kiosk.agent.dir, 'token-cache.json.corrupt-20250101T000000Z'), await readFile(join(kiosk.agent.dir, 'token-cache.json')));

  const secretsOnDisk = async (): Promise<string[]> => {
    const secrets = (await kiosk.idp.issued()).filter((s) => s.length >= 16);
    const found: string[] = [];
    for (const name of await readdir(kiosk.agent.dir)) {
      const text = await readFile(join(kiosk.agent.dir, name), 'utf8').catch(() => '');
      if (secrets.some((s) => text.includes(s))) found.push(name);
    }
    return found;
  };
  const forgetful = { KIOSK_REMEMBER: 'false' };
  const second = await kiosk.reboot(forgetful);
  await second.waitForState('awaiting_sign_in');
  assert.ok(!second.states().includes('restoring'), 'the earlier sign-in is not restored');
  assert.deepEqual(await secretsOnDisk(), [], 'the cache and its moved-aside copy are gone');
  await approveNext(kiosk.idp, 'bob');
  await second.waitForState('signed_in');
  assert.ok((await kiosk.idp.issued()).length > 0);
  assert.deepEqual(await secretsOnDisk(), [], 'signed in, and still no token on disk');
  assert.ok(!(await readdir(kiosk.agent.dir)).some((f) => f.startsWith('token-cache.json')), 'no cache file at all');
  const env = { KIOSK_CLIENT_ID: 'x', KIOSK_AUTHORITY: kiosk.idp.authority, KIOSK_CACHE_PATH: join(kiosk.agent.dir, 'token-cache.json') };
  const health = await cli(['health'], env);
  assert.equal(health.code, 0, health.stderr);
  assert.match(health.stdout, /^healthy\ntoken cache in memory only \(KIOSK_REMEMBER=false\)/);
  const status = JSON.parse(await readFile(join(kiosk.agent.dir, 'status.json'), 'utf8')) as { cache: string };
  assert.equal(status.cache, 'memory');

  assert.equal(await second.stop('SIGTERM'), 0);
  assert.deepEqual(await secretsOnDisk(), [], 'the stop flushed nothing to disk');
  const third = await kiosk.reboot(forgetful);
  await third.waitForState('awaiting_sign_in');
  assert.deepEqual(third.states(), ['awaiting_sign_in'], 'a code again after a restart');
});

test('invalid configuration: exit 78 with one line naming each setting and its fix', async () => {
  const base = { KIOSK_CLIENT_ID: 'abc', KIOSK_AUTHORITY: 'https://contoso.ciamlogin.com/' };
  const cases: Array<[Record<string, string>, string]> = [
    [{ KIOSK_AUTHORITY: 'not a url' }, 'KIOSK_AUTHORITY'],
    [{ KIOSK_AUTHORITY: 'http://contoso.ciamlogin.com/' }, 'KIOSK_AUTHORITY'],
    [{ KIOSK_REFRESH_CRON: 'every day' }, 'KIOSK_REFRESH_CRON'],
    [{ KIOSK_DISPLAY: 'terminal,hologram' }, 'KIOSK_DISPLAY'],
    [{ KIOSK_DEVICE_ID: 'kiosk/1' }, 'KIOSK_DEVICE_ID'],
    [{ KIOSK_MQTT_PASSWORD_FILE: '/nonexistent/secret' }, 'KIOSK_MQTT_PASSWORD_FILE'],
    [{ KIOSK_WEB_PORT: '99999' }, 'KIOSK_WEB_PORT'],
    [{ KIOSK_MQTT_URL: 'http://broker' }, 'KIOSK_MQTT_URL'],
    [{ TZ: 'Europe/Atlantis' }, 'TZ'],
    [{ KIOSK_SIGN_OUT_CRON: 'at the end of the shift' }, 'KIOSK_SIGN_OUT_CRON'],
    [{ KIOSK_WEB_ALLOWED_HOSTS: 'https://kiosk.local' }, 'KIOSK_WEB_ALLOWED_HOSTS'],
    [{ KIOSK_REMEMBER: 'never' }, 'KIOSK_REMEMBER'],
  ];
  for (const [env, setting] of cases) {
    const { code, stderr, stdout } = await cli(['config'], { ...base, ...env });
    assert.equal(code, 78, `${setting}: ${stderr}`);
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line for ${setting}: ${stderr}`);
    assert.match(lines[0]!, new RegExp(`${setting}: .+`));
    assert.equal(stdout, '');
  }
  const missing = await cli(['run'], {});
  assert.equal(missing.code, 78);
  assert.match(missing.stderr, /KIOSK_CLIENT_ID: is required/);
  assert.match(missing.stderr, /KIOSK_AUTHORITY: is required/);
});

test('config prints the effective values with secrets masked', async () => {
  const secret = 'hunter2-very-secret-password';
  const { code, stdout, stderr } = await cli(['config'], {
    KIOSK_CLIENT_ID: 'abc',
    KIOSK_AUTHORITY: 'https://contoso.ciamlogin.com',
    KIOSK_MQTT_PASSWORD: secret,
    KIOSK_CACHE_KEY: `${secret}-key`,
    KIOSK_MQTT_URL: `mqtts://kiosk:${secret}-in-url@broker.example:8883`,
    KIOSK_DISPLAYS: 'web',
  });
  assert.equal(code, 0, stderr);
  const printed = JSON.parse(stdout) as Record<string, string | null>;
  assert.equal(printed.KIOSK_AUTHORITY, 'https://contoso.ciamlogin.com');
  assert.equal(printed.KIOSK_MQTT_PASSWORD, '********');
  assert.equal(printed.KIOSK_CACHE_KEY, '********');
  assert.equal(printed.KIOSK_MQTT_URL, 'mqtts://kiosk:********@broker.example:8883', 'a password inside a URL is masked too');
  assert.ok(!stdout.includes(secret) && !stderr.includes(secret));
  assert.match(stderr, /KIOSK_DISPLAYS is not a kiosk-agent setting/);
});
