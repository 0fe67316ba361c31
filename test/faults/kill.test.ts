import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { CacheCodec, assertCacheShape } from '../../src/auth/cache-file.js';
import type { AgentProcess, LogLine } from '../helpers/agent.js';
import type { RequestEntry } from '../helpers/idp.js';
import { startKiosk } from '../helpers/kiosk.js';
import { eventually } from '../helpers/wait.js';
import { eachRound, record, rounds, SEED, seededRandom } from './report.js';

const CACHE_KEY = 'kill-test cache key, 32 characters';
const TOPIC = 'kiosk/test-kiosk';
/** Every provider answer waits this long, so a refresh is in flight long enough for a second one to overlap it. */
const PROVIDER_DELAY_MS = 200;
const SETTLED = ['signed_in', 'awaiting_sign_in', 'error', 'offline'];

type Saved = 'none' | 'complete' | 'partial';

/** The cache file after a kill: absent, or complete and decodable; a damaged file in place throws. */
async function savedSignIn(codec: CacheCodec, path: string): Promise<Saved> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'none';
    throw e;
  }
  const { plaintext, encrypted } = await codec.decode(bytes).catch((e: unknown) => {
    throw new Error(`a damaged cache file was left in place (${e instanceof Error ? e.message : String(e)}, ${bytes.length} bytes)`);
  });
  assert.ok(encrypted, 'the cache on disk is encrypted');
  const cache = JSON.parse(plaintext) as Record<string, Record<string, unknown>>;
  assertCacheShape(cache);
  const accounts = Object.keys(cache.Account ?? {}).length;
  const refresh = Object.keys(cache.RefreshToken ?? {}).length;
  if (accounts === 0) return 'none';
  return refresh > 0 ? 'complete' : 'partial';
}

const isState = (l: LogLine): boolean => l.msg === 'state';

test('SIGKILL at random instants: the cache stays whole, the next boot resumes, MQTT tells the truth', { timeout: 20 * 60_000 }, async (t) => {
  const seed = SEED;
  t.diagnostic(`seed ${seed} (FAULTS_SEED=${seed} repeats this run)`);
  const random = seededRandom(seed);
  const pick = <T>(weighted: Array<[T, number]>): T => {
    let r = random() * weighted.reduce((n, [, w]) => n + w, 0);
    for (const [value, w] of weighted) if ((r -= w) < 0) return value;
    return weighted[0]![0];
  };

  // Fired by the provider after it has answered: the agent is then storing what it got.
  let onAnswer: ((e: Readonly<RequestEntry>) => void) | undefined;
  const kiosk = await startKiosk(t, {
    idp: { onRequest: (e) => onAnswer?.(e) },
    env: { KIOSK_REFRESH_CRON: '*/1 * * * * *', KIOSK_CACHE_KEY: CACHE_KEY },
    // Short-lived access tokens: restores after a kill usually need the refresh token, and refreshes write the cache.
    before: (idp) => idp.faults({ access_token_expires_in: 4, delay_ms: PROVIDER_DELAY_MS }),
  });
  const { idp, broker } = kiosk;
  const codec = new CacheCodec(CACHE_KEY);
  const cachePath = join(kiosk.agent.dir, 'token-cache.json');
  const spawnedAt = new Map<AgentProcess, number>([[kiosk.agent, Date.now()]]);
  const reboot = async (): Promise<AgentProcess> => {
    const at = Date.now();
    const next = await kiosk.reboot();
    spawnedAt.set(next, at);
    return next;
  };
  const current = (): AgentProcess => kiosk.agents.at(-1)!;
  const kills: Record<string, number> = {};
  const saved: Record<Saved, number> = { none: 0, complete: 0, partial: 0 };
  let maxTemps = 0;
  /** Temp files found right after the kills: what the next boots had to clear. */
  let strays = 0;

  /** SIGKILL now, or `ms` from now; resolves once the process is gone. */
  const killIn = async (agent: AgentProcess, ms: number): Promise<void> => {
    if (ms > 0) await delay(ms);
    agent.child.kill('SIGKILL');
    assert.equal(await agent.exited(), 'SIGKILL');
  };
  /** Kills `agent` `0..maxMs` after the provider answers a token request of `grant` (MSAL sends `device_code`, RFC 8628 the URN). */
  const killAfterAnswer = (agent: AgentProcess, grant: string, maxMs: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        onAnswer = undefined;
        void idp.requests().then((all) => {
          const recent = all.filter((r) => r.endpoint === 'token').slice(-4).map((r) => `${r.grant_type} ${r.status} ${r.error ?? ''}`);
          reject(new Error(`no ${grant} grant answered within 15 s (states ${agent.states().join(' → ')}; last token requests: ${recent.join('; ')})`));
        }, reject);
      }, 15_000);
      onAnswer = (e) => {
        if (e.endpoint !== 'token' || !e.grant_type?.endsWith(grant) || e.status !== 200) return;
        onAnswer = undefined;
        clearTimeout(timer);
        killIn(agent, Math.floor(random() * maxMs)).then(resolve, reject);
      };
    });

  /** Boot to a settled state and check it against what was on disk. */
  const settle = async (agent: AgentProcess, expected: Saved): Promise<string> => {
    const first = await agent.waitForLog((l) => isState(l) && SETTLED.includes(String(l.state)), 20_000, 'a settled state');
    const states = agent.states();
    if (expected === 'complete') assert.equal(first.state, 'signed_in', `a complete sign-in was saved, yet: ${states.join(' → ')}`);
    else if (expected === 'none') assert.equal(first.state, 'awaiting_sign_in', `nothing was saved, yet: ${states.join(' → ')}`);
    else assert.ok(['signed_in', 'awaiting_sign_in'].includes(String(first.state)), `after a partial sign-out: ${states.join(' → ')}`);
    // What a dashboard connecting now is told must be what the agent is.
    await eventually(
      async () => {
        const state = await broker.retained(`${TOPIC}/state`);
        const availability = await broker.retained(`${TOPIC}/availability`);
        return availability === 'online' && state !== undefined && (JSON.parse(state) as { state: string }).state === agent.states().at(-1);
      },
      10_000,
      `retained state and availability to match the agent (${agent.states().at(-1)})`,
    );
    return String(first.state);
  };

  /** The provider's refresh grants from one process must never overlap: each is answered PROVIDER_DELAY_MS later. */
  const assertOneRefreshAtATime = async (agent: AgentProcess, until: number): Promise<void> => {
    const from = spawnedAt.get(agent)!;
    const grants = (await idp.requests()).filter((r) => r.endpoint === 'token' && r.grant_type === 'refresh_token' && r.at >= from && r.at < until);
    for (let i = 1; i < grants.length; i++) {
      const gap = grants[i]!.at - grants[i - 1]!.at;
      assert.ok(gap >= PROVIDER_DELAY_MS - 25, `pid ${agent.child.pid}: a refresh started ${gap} ms after one still waiting for its answer`);
    }
  };

  const temps = async (): Promise<string[]> => (await readdir(kiosk.agent.dir)).filter((f) => f.endsWith('.tmp'));

  await settle(kiosk.agent, 'none');
  const total = rounds(100, 15);
  const { failures, errors } = await eachRound(total, async () => {
    let agent = current();
    // A failed round may leave a process behind; the next round starts from a fresh boot.
    if (agent.child.exitCode !== null || agent.child.signalCode !== null || agent.states().length === 0) {
      await agent.stop('SIGKILL');
      agent = await reboot();
      await settle(agent, await savedSignIn(codec, cachePath));
    }
    const signedIn = agent.states().at(-1) === 'signed_in';
    const mode = signedIn
      ? pick<string>([['refresh write', 4], ['while signed in', 2], ['during boot', 2], ['sign-out', 1.5]])
      : pick<string>([['sign-in write', 6], ['while polling', 2], ['during boot', 1.5]]);
    kills[mode] = (kills[mode] ?? 0) + 1;
    switch (mode) {
      case 'refresh write':
        await killAfterAnswer(agent, 'refresh_token', 150);
        break;
      case 'sign-in write': {
        const killed = killAfterAnswer(agent, 'device_code', 500);
        // Codes of killed agents stay pending at the provider: approve the one this agent shows.
        const shown = await kiosk.mqtt.waitFor(
          `${TOPIC}/state`,
          (m) => m.at >= spawnedAt.get(agent)! && (JSON.parse(m.text) as { user_code?: string }).user_code !== undefined,
          15_000,
        );
        await idp.approve((JSON.parse(shown.text) as { user_code: string }).user_code);
        await killed;
        break;
      }
      case 'while signed in':
      case 'while polling':
        await killIn(agent, Math.floor(random() * 1_500));
        break;
      case 'sign-out':
        kiosk.mqtt.client.publish(`${TOPIC}/request/sign_out`, '{}', { qos: 1 });
        await killIn(agent, Math.floor(random() * 800));
        break;
      case 'during boot': {
        await killIn(agent, 0);
        await assertOneRefreshAtATime(agent, Date.now());
        agent = await reboot();
        // Module loading takes most of the first second; the instants of interest come after it.
        await killIn(agent, 300 + Math.floor(random() * 1_700));
        break;
      }
    }
    // The broker's Last Will tells subscribers the kiosk is gone.
    await eventually(async () => (await broker.retained(`${TOPIC}/availability`)) === 'offline', 5_000, 'availability offline after the kill');
    const onDisk = await savedSignIn(codec, cachePath);
    saved[onDisk]++;
    strays += (await temps()).length;
    const next = await reboot();
    await assertOneRefreshAtATime(agent, spawnedAt.get(next)!);
    await settle(next, onDisk);
    const corrupt = (await readdir(kiosk.agent.dir)).filter((f) => f.includes('.corrupt-'));
    assert.deepEqual(corrupt, [], 'no cache file had to be quarantined');
    // Temps of killed writers must be cleared by the next process, not pile up over many kills.
    const stale = (await temps()).filter((f) => !f.includes(`.${next.child.pid}.`));
    maxTemps = Math.max(maxTemps, stale.length);
    assert.deepEqual(stale, [], 'temp files of killed writers are left behind');
  });

  const last = current();
  await last.stop('SIGTERM');
  await assertOneRefreshAtATime(last, Date.now());
  const scan = await kiosk.scanLeaks();
  const modes = Object.entries(kills)
    .map(([m, n]) => `${m} ${n}`)
    .join(', ');
  record({
    scenario: 'SIGKILL at random instants',
    rounds: total,
    failures,
    bytesScanned: scan.bytes,
    leaks: scan.leaks.length,
    note: `seed ${seed}; ${modes}; saved after kill: complete ${saved.complete}, none ${saved.none}, partial ${saved.partial}; temps left by kills ${strays}, stale after the next boot (max) ${maxTemps}`,
  });
  assert.equal(failures, 0, `seed ${seed}:\n${errors.join('\n')}`);
  assert.deepEqual(scan.leaks, []);
});
