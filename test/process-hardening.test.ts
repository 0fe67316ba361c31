import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeDir, spawnAgent } from './helpers/agent.js';
import { approveNext, command, kioskEnv, signedInKiosk, startKiosk } from './helpers/kiosk.js';
import { startTestIdp } from './helpers/idp.js';

/**
 * CONTRACT §3 and §5 at the edges of the process: settings read only from small regular files, warnings
 * that cannot forge a log line, and stop signals (SIGHUP, a SIGTERM during start-up, a SIGTERM after
 * stdout has gone) ending in a graceful stop with exit 0.
 */

const ROOT = new URL('..', import.meta.url).pathname;
const json = (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>;

interface Outcome { code: number | string; stdout: string; stderr: string }

/** Runs the real agent to its end; bounded, so a read that would block for ever fails the test instead. */
function agentRun(args: string[], env: Record<string, string>): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts'), ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (e, stdout, stderr) => {
      const err = e as (Error & { code?: number; signal?: string }) | null;
      resolve({ code: err ? (err.code ?? err.signal ?? 'killed') : 0, stdout, stderr });
    });
  });
}

test('a NAME_FILE or --config on /dev/zero, a FIFO, a directory or a 10 MB file: exit 78 naming the setting, nothing read', { timeout: 300_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-files-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  await writeFile(join(dir, 'big'), Buffer.alloc(10 * 1024 * 1024, 0x61));
  const targets: Array<[string, string]> = [
    ['/dev/zero', 'not a regular file'],
    [join(dir, 'fifo'), 'not a regular file'],
    [dir, 'not a regular file'],
    [join(dir, 'big'), 'larger than 64 KiB'],
  ];
  const base = { KIOSK_AUTHORITY: 'https://contoso.ciamlogin.com/', KIOSK_MQTT_URL: 'off', KIOSK_CACHE_PATH: join(dir, 'cache', 'token-cache.json') };
  for (const [target, reason] of targets) {
    const secret = await agentRun(['run'], { ...base, KIOSK_CLIENT_ID_FILE: target });
    assert.equal(secret.code, 78, `KIOSK_CLIENT_ID_FILE=${target}: ${secret.stderr.slice(0, 300)}`);
    // The file named first, then what its absence means (the client id is missing): one line each.
    assert.deepEqual(secret.stderr.trimEnd().split('\n'), [
      `kiosk-agent: invalid configuration: KIOSK_CLIENT_ID_FILE: cannot read ${target} (${reason}); point it at a readable file`,
      'kiosk-agent: invalid configuration: KIOSK_CLIENT_ID: is required; set it to the application (client) id of your app registration',
    ]);
    const file = await agentRun(['run', '--config', target], { ...base, KIOSK_CLIENT_ID: 'kiosk-test-client' });
    assert.equal(file.code, 78, `--config ${target}: ${file.stderr.slice(0, 300)}`);
    assert.equal(file.stderr, `kiosk-agent: invalid configuration: --config: cannot use ${target} (${reason}); give a readable JSON file\n`);
  }
  assert.equal((await stat(join(dir, 'cache')).catch(() => undefined)), undefined, 'the agent did not start');
});

test('an unknown KIOSK_ variable whose name holds a newline or escape is warned about on one line, escaped', async () => {
  const forged = 'kiosk-agent: invalid configuration: KIOSK_CLIENT_ID: forged';
  const { code, stderr } = await agentRun(['config'], {
    KIOSK_CLIENT_ID: 'abc',
    KIOSK_AUTHORITY: 'https://contoso.ciamlogin.com/',
    [`KIOSK_X\n${forged}`]: '1',
    'KIOSK_\u001b]0;owned\u0007': '1',
  });
  assert.equal(code, 0, stderr);
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, stderr);
  assert.ok(!lines.some((l) => l.startsWith(forged)), 'no forged line');
  assert.ok(lines.includes(`kiosk-agent: warning: KIOSK_X\\n${forged} is not a kiosk-agent setting (a typo?); it is ignored`), stderr);
  assert.ok(lines.includes('kiosk-agent: warning: KIOSK_\\u001b]0;owned\\u0007 is not a kiosk-agent setting (a typo?); it is ignored'), stderr);
  assert.ok(![...stderr].some((c) => c < ' ' && c !== '\n'), 'no control character reaches the terminal');
});

test('SIGHUP is a graceful stop: stopped and offline published, the cache flushed, exit 0', async (t) => {
  const kiosk = await signedInKiosk(t);
  assert.equal(await kiosk.agent.stop('SIGHUP'), 0);
  assert.equal(kiosk.agent.states().at(-1), 'stopped');
  assert.ok(kiosk.agent.logs().some((l) => l.msg === 'stopping' && l.signal === 'SIGHUP'));
  assert.equal(json(kiosk.mqtt.last('kiosk/test-kiosk/state')?.text ?? '{}').state, 'stopped');
  assert.equal(kiosk.mqtt.last('kiosk/test-kiosk/availability')?.text, 'offline');
  assert.ok((await readFile(join(kiosk.agent.dir, 'token-cache.json'), 'utf8')).includes('RefreshToken'), 'the cache is on disk');
  // And the next boot is signed in from it.
  const again = await kiosk.reboot();
  await again.waitForState('signed_in');
});

/** True once the process catches SIGHUP: the agent's stop handlers are installed (Node itself leaves SIGHUP alone). */
async function catchesSighup(pid: number): Promise<boolean> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const caught = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return caught !== undefined && (BigInt(`0x${caught}`) & 1n) === 1n;
}

test('SIGTERM as soon as the handlers are in place, before the agent has loaded: exit 0, not 143', async (t) => {
  const idp = await startTestIdp();
  t.after(() => idp.close());
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const agent = await spawnAgent({ env: kioskEnv(idp, 'off') });
    t.after(() => removeDir(agent.dir));
    const pid = agent.child.pid ?? 0;
    // Bounded: a process that never catches the signal fails here, not with a hang.
    for (let i = 0; i < 5_000 && agent.child.exitCode === null && !(await catchesSighup(pid)); i += 1) await sleep(1);
    assert.equal(await catchesSighup(pid), true, 'the stop handlers are installed');
    const code = await agent.stop(signal);
    assert.equal(code, 0, `${signal}: ${agent.stderr().slice(-500)}`);
    assert.ok(agent.logs().some((l) => l.msg === 'stopping' && l.signal === signal), `${signal}: logged`);
    assert.ok(!agent.logs().some((l) => l.level === 'error' || l.level === 'fatal'), `${signal}: nothing failed`);
    const before = !agent.logs().some((l) => l.msg === 'kiosk-agent starting');
    t.diagnostic(`${signal}: ${before ? 'arrived before the agent started' : 'arrived while it started'}`);
  }
});

test('stdout closed (EPIPE), then SIGTERM: the display failure is logged, the stop is graceful, exit 0', async (t) => {
  const kiosk = await startKiosk(t);
  await kiosk.agent.waitForState('awaiting_sign_in');
  kiosk.agent.child.stdout?.destroy();
  await approveNext(kiosk.idp);
  await kiosk.agent.waitForState('signed_in');
  // The "Signed in" frame met the closed pipe; a display's failure shows at its next render (display.ts).
  assert.equal((await command(kiosk, 'refresh')).status, 'ok');
  await kiosk.agent.waitForLog((l) => l.code === 'EPIPE', 10_000, 'the terminal display failing with EPIPE');
  assert.equal(await kiosk.agent.stop('SIGTERM'), 0, kiosk.agent.stderr().slice(-500));
  assert.equal(json(kiosk.mqtt.last('kiosk/test-kiosk/state')?.text ?? '{}').state, 'stopped');
  assert.equal(kiosk.mqtt.last('kiosk/test-kiosk/availability')?.text, 'offline');
  assert.ok(!kiosk.agent.logs().some((l) => l.level === 'fatal'), 'no unexpected failure');
});
