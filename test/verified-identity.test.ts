import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { approveNext, signedInKiosk, startKiosk } from './helpers/kiosk.js';
import type { Kiosk } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

/** Nothing named the account anywhere: not the terminal, not a state payload, not the claims topic. */
function assertNobodyNamed(k: Kiosk, name: string): void {
  assert.ok(!k.agent.states().includes('signed_in'), `never signed in: ${k.agent.states().join(' → ')}`);
  assert.ok(!k.agent.stdout().includes(name), `"${name}" never on the display`);
  for (const m of k.mqtt.on('kiosk/test-kiosk/state')) assert.ok(!m.text.includes(name) && !m.text.includes('"account"'), `state names nobody: ${m.text}`);
  for (const m of k.mqtt.on('kiosk/test-kiosk/claims')) assert.equal(m.text, '', 'no claims published');
}

test('a forged ID token while the keys are unreachable: "verifying", never signed in as its name; rejected once keys are back', async (t) => {
  const k = await startKiosk(t, { before: (p) => p.faults({ id_token_fault: 'forged', fail_next: 1_000, fail_endpoints: ['keys'] }) });
  await k.agent.waitForState('awaiting_sign_in');
  await approveNext(k.idp);
  const verifying = await k.agent.waitForState('offline');
  assert.match(String(verifying.detail), /Verifying sign-in/);
  // Several retries with backoff (1 s, 2 s, 4 s), each unable to fetch the keys.
  await k.agent.waitForState('offline', 20_000, 2);
  assertNobodyNamed(k, 'Alice Example');
  assert.ok((await k.idp.requests()).filter((r) => r.endpoint === 'keys' && r.fault === 'fail').length >= 3, 'the keys were asked for and failed');

  await k.idp.faults({ fail_next: 0 });
  const error = await k.agent.waitForState('error', 30_000);
  assert.equal((error.error as { code: string }).code, 'invalid_id_token');
  assertNobodyNamed(k, 'Alice Example');
});

/**
 * MQTT starts once the boot's first frame past `restoring` is drawn, or 2 s after start: a restore held
 * for 3 s is published as it is. The cached access token is made due for renewal (a reboot with a good
 * one is signed in from the cache at once), the saved discovery document stale, every provider answer
 * delayed. Returns the reboot's settings; the delay ends with the restore's first answer.
 */
async function slowRestore(k: Kiosk): Promise<Record<string, string>> {
  const cachePath = join(k.agent.dir, 'token-cache.json');
  const cache = JSON.parse(await readFile(cachePath, 'utf8')) as { AccessToken: Record<string, { expires_on: string }> };
  for (const token of Object.values(cache.AccessToken)) token.expires_on = String(Math.round(Date.now() / 1000) + 60);
  await writeFile(cachePath, JSON.stringify(cache));
  const path = join(k.agent.dir, 'provider-metadata.json');
  const saved = JSON.parse(await readFile(path, 'utf8')) as { documents: Record<string, { fetched_at: number }> };
  for (const entry of Object.values(saved.documents)) entry.fetched_at = 0;
  await writeFile(path, JSON.stringify(saved));
  await k.idp.faults({ delay_ms: 3_000 });
  const restored = k.mqtt.waitFor('kiosk/test-kiosk/state', (m) => m.text.includes('"restoring"'), 20_000, k.mqtt.messages.length);
  void restored.then(() => k.idp.faults({ delay_ms: 0 }), () => undefined);
  return { KIOSK_HTTP_TIMEOUT: '10' };
}

test('a cached account is named at boot only when its ID token verifies offline; without saved keys nobody is named', async (t) => {
  const k = await signedInKiosk(t);
  await k.agent.stop();

  // The saved keys verify the cached ID token with no network call: "Signing in as Alice Example".
  let from = k.mqtt.messages.length;
  const second = await k.reboot(await slowRestore(k));
  const named = await k.mqtt.waitFor('kiosk/test-kiosk/state', (m) => m.text.includes('"restoring"'), 20_000, from);
  assert.equal((JSON.parse(named.text) as { account?: { name?: string } }).account?.name, 'Alice Example');
  await second.waitForState('signed_in');
  await second.stop();

  // Keys forgotten and unreachable: restoring names nobody, and the sign-in waits to be verified.
  const metadataPath = join(k.agent.dir, 'provider-metadata.json');
  const metadata = JSON.parse(await readFile(metadataPath, 'utf8')) as { documents: Record<string, unknown> };
  const documents = Object.fromEntries(Object.entries(metadata.documents).filter(([url]) => !url.endsWith('/keys')));
  await writeFile(metadataPath, JSON.stringify({ ...metadata, documents }));
  await k.idp.faults({ fail_next: 1_000, fail_endpoints: ['keys'] });
  from = k.mqtt.messages.length;
  const third = await k.reboot(await slowRestore(k));
  const unnamed = await k.mqtt.waitFor('kiosk/test-kiosk/state', (m) => m.text.includes('"restoring"'), 20_000, from);
  assert.equal((JSON.parse(unnamed.text) as { account?: unknown }).account, undefined, 'no unverified name while restoring');
  const verifying = await third.waitForState('offline');
  assert.match(String(verifying.detail), /Verifying sign-in/);
  assert.ok(!third.stdout().includes('Alice Example'), 'the name is not on screen before it is verified');
  await k.idp.faults({ fail_next: 0 });
  await third.waitForState('signed_in', 30_000);
  await eventually(() => third.stdout().includes('Signed in as Alice Example'), 10_000, 'the verified name once the keys are back');
});

test('an ID token from another tenant (tid) is rejected like a bad signature: never signed in, nobody named', async (t) => {
  const k = await startKiosk(t, { before: (p) => p.faults({ id_token_fault: 'foreign_tenant' }) });
  await k.agent.waitForState('awaiting_sign_in');
  await approveNext(k.idp);
  const error = await k.agent.waitForState('error');
  assert.equal((error.error as { code: string }).code, 'invalid_id_token');
  assert.match(String((error.error as { message: string }).message), new RegExp(`tenant .* is not ${k.idp.tenantId}`));
  assertNobodyNamed(k, 'Alice Example');
});
