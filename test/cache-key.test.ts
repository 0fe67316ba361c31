import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { approveNext, command, signedInKiosk } from './helpers/kiosk.js';
import type { Kiosk } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

/**
 * A cache encrypted under another KIOSK_CACHE_KEY (README, "Token cache"): kept where it is, never written
 * over, the kiosk in `error` (`cache_key_mismatch`, naming the setting) with no code on screen; the right key
 * on the next start brings the sign-in back without a code; `restart_sign_in` is the deliberate way to a
 * fresh sign-in, which moves the old file aside.
 */

const RIGHT = 'correct horse battery staple 42';
const WRONG = 'a different passphrase of length';
const STATE = 'kiosk/test-kiosk/state';
const json = (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>;

async function signedInWithKey(t: TestContext): Promise<{ kiosk: Kiosk; cache: Buffer }> {
  const kiosk = await signedInKiosk(t, { env: { KIOSK_CACHE_KEY: RIGHT } });
  assert.equal(await kiosk.agent.stop('SIGTERM'), 0);
  return { kiosk, cache: await readFile(join(kiosk.agent.dir, 'token-cache.json')) };
}

const deviceCodeRequests = async (kiosk: Kiosk): Promise<number> =>
  (await kiosk.idp.requests()).filter((r) => r.path.endsWith('/oauth2/v2.0/devicecode')).length;

test('a wrong KIOSK_CACHE_KEY: error naming the setting, the cache untouched; the right key then signs in without a code', async (t) => {
  const { kiosk, cache } = await signedInWithKey(t);
  const codesBefore = await deviceCodeRequests(kiosk);

  for (const [label, env] of [['wrong key', { KIOSK_CACHE_KEY: WRONG }], ['no key', { KIOSK_CACHE_KEY: '' }]] as const) {
    const from = kiosk.mqtt.messages.length;
    const wrong = await kiosk.reboot(env);
    const error = await wrong.waitForState('error');
    assert.equal((error.error as { code: string }).code, 'cache_key_mismatch', label);
    assert.match((error.error as { message: string }).message, /KIOSK_CACHE_KEY.*restart_sign_in/, `${label}: the fix is named`);
    const published = await kiosk.mqtt.waitFor(STATE, (m) => json(m.text).state === 'error', 10_000, from);
    assert.equal((json(published.text).error as { code: string }).code, 'cache_key_mismatch');
    await eventually(() => wrong.stdout().includes('cache_key_mismatch') && wrong.stdout().includes('KIOSK_CACHE_KEY'), 5_000, `${label}: the display shows it`);
    assert.ok(wrong.logs().some((l) => l.level === 'warn' && String(l.fix).includes('KIOSK_CACHE_KEY')), `${label}: the log says what to do`);
    // Nothing asked for a code, refresh or sign-out over it, and the file is as it was.
    assert.equal(await wrong.stop('SIGTERM'), 0);
    assert.deepEqual(wrong.states(), ['error', 'stopped'], label);
    assert.deepEqual(await readFile(join(kiosk.agent.dir, 'token-cache.json')), cache, `${label}: the cache is byte for byte what it was`);
    assert.deepEqual((await readdir(kiosk.agent.dir)).filter((f) => f.includes('.corrupt-')), [], `${label}: nothing moved aside`);
  }
  assert.equal(await deviceCodeRequests(kiosk), codesBefore, 'no device code was requested');
  assert.deepEqual(await kiosk.idp.pending(), []);

  const right = await kiosk.reboot({ KIOSK_CACHE_KEY: RIGHT });
  await right.waitForState('signed_in');
  assert.deepEqual(right.transitions(), ['restoring', 'signed_in'], 'signed in from the cache');
  assert.equal(await deviceCodeRequests(kiosk), codesBefore, 'without a new code');
});

test('restart_sign_in with the wrong key: a fresh code, and its sign-in moves the old cache aside and takes its place', async (t) => {
  const { kiosk, cache } = await signedInWithKey(t);
  const wrong = await kiosk.reboot({ KIOSK_CACHE_KEY: WRONG });
  await wrong.waitForState('error');
  assert.equal((await command(kiosk, 'restart_sign_in')).status, 'ok');
  await wrong.waitForState('awaiting_sign_in');
  // Until the new sign-in succeeds, the old file stays.
  assert.deepEqual(await readFile(join(kiosk.agent.dir, 'token-cache.json')), cache);
  await approveNext(kiosk.idp, 'bob');
  await wrong.waitForState('signed_in');
  assert.equal(await wrong.stop('SIGTERM'), 0);
  const moved = (await readdir(kiosk.agent.dir)).filter((f) => f.startsWith('token-cache.json.corrupt-'));
  assert.equal(moved.length, 1, 'the old cache was moved aside');
  assert.deepEqual(await readFile(join(kiosk.agent.dir, moved[0]!)), cache, 'byte for byte');
  // The new key's cache is the one in place now.
  const from = kiosk.mqtt.messages.length;
  const after = await kiosk.reboot({ KIOSK_CACHE_KEY: WRONG });
  await after.waitForState('signed_in');
  assert.deepEqual(after.transitions(), ['restoring', 'signed_in']);
  const state = await kiosk.mqtt.waitFor(STATE, (m) => json(m.text).state === 'signed_in', 10_000, from);
  assert.equal((json(state.text).account as { name: string }).name, 'Bob Example', 'the fresh sign-in, not the old one');
});
