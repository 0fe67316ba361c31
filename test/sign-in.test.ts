import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { approveNext, assertNoLeaks, signedInKiosk, startKiosk } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

test('first boot shows a code; approval through the provider signs the kiosk in with verified claims', async (t) => {
  const { idp, agent, mqtt } = await startKiosk(t);
  await agent.waitForState('awaiting_sign_in');
  const userCode = await approveNext(idp, 'alice');
  await agent.waitForState('signed_in');
  const out = agent.stdout();
  assert.ok(out.includes(userCode), 'the user code was on screen');
  assert.ok(out.includes(idp.verificationUri), 'the verification URL was on screen');
  await eventually(() => agent.stdout().includes('Signed in as Alice Example'), 5_000, 'the signed-in view');
  assert.ok(agent.logs().some((l) => l.event === 'sign_in_succeeded'));
  const cache = await stat(join(agent.dir, 'token-cache.json'));
  assert.equal(cache.mode & 0o777, 0o600, 'the token cache is private');
  const issued = await idp.issued();
  assert.ok(issued.length >= 4, 'the provider issued a device code, access, refresh and ID tokens');
  assert.ok((await assertNoLeaks([agent], idp, mqtt)) > 1_000, 'the scan covered the output');
});

test('a reboot signs in silently from the cache, without a device-code request', async (t) => {
  const kiosk = await signedInKiosk(t);
  assert.equal(await kiosk.agent.stop('SIGTERM'), 0);

  const rebootedAt = Date.now();
  const again = await kiosk.reboot();
  await again.waitForState('signed_in');
  assert.deepEqual(again.states().slice(0, 2), ['restoring', 'signed_in']);
  const after = (await kiosk.idp.requests()).filter((r) => r.at >= rebootedAt);
  assert.equal(after.filter((r) => r.endpoint === 'devicecode').length, 0, 'no device code was requested');
  assert.ok(!again.states().includes('awaiting_sign_in'));
});

test('a reboot with a good cached access token is signed in from its cache before MSAL loads, without waiting for the provider', async (t) => {
  const kiosk = await signedInKiosk(t);
  const first = JSON.parse((await kiosk.mqtt.waitFor('kiosk/test-kiosk/state', (m) => m.text.includes('"signed_in"'))).text) as Record<string, unknown>;
  assert.equal(await kiosk.agent.stop('SIGTERM'), 0);
  // A stale saved discovery document, and a provider that answers 3 s late: MSAL would wait for the
  // document before answering from its cache.
  const metadataPath = join(kiosk.agent.dir, 'provider-metadata.json');
  const saved = JSON.parse(await readFile(metadataPath, 'utf8')) as { documents: Record<string, { fetched_at: number }> };
  for (const entry of Object.values(saved.documents)) entry.fetched_at = 0;
  await writeFile(metadataPath, JSON.stringify(saved));
  const DELAY_MS = 3_000;
  await kiosk.idp.faults({ delay_ms: DELAY_MS });

  const rebootedAt = Date.now();
  const from = kiosk.mqtt.messages.length;
  const again = await kiosk.reboot({ KIOSK_HTTP_TIMEOUT: '10' });
  const signedIn = await again.waitForState('signed_in');
  const asked = (await kiosk.idp.requests()).filter((r) => r.at >= rebootedAt);
  assert.ok(asked.length > 0, 'the stale document was asked for again');
  const firstAnswer = Math.min(...asked.map((r) => r.at)) + DELAY_MS;
  assert.ok(Date.parse(String(signedIn.time)) < firstAnswer, 'signed in before the provider answered anything');
  await kiosk.idp.faults({ delay_ms: 0 });
  const state = JSON.parse((await kiosk.mqtt.waitFor('kiosk/test-kiosk/state', (m) => m.text.includes('"signed_in"'), 10_000, from)).text) as Record<string, unknown>;
  assert.deepEqual([state.account, state.token_expires_at], [first.account, first.token_expires_at], 'the account and token MSAL signed in with');
  await eventually(() => again.stdout().includes('Signed in as Alice Example'), 5_000, 'the verified name on screen');
  assert.equal(JSON.parse((await kiosk.mqtt.waitFor('kiosk/test-kiosk/claims', (m) => m.text !== '', 5_000, from)).text).name, 'Alice Example');
});

test('an expired code is replaced at once by a fresh one', async (t) => {
  const { idp, agent } = await startKiosk(t, { before: (p) => p.faults({ device_code_expires_in: 3 }) });
  await agent.waitForState('awaiting_sign_in');
  const [first] = await idp.waitForPending();
  await agent.waitForState('awaiting_sign_in', 15_000, 1);
  const [second] = await idp.waitForPending((c) => c.user_code !== first?.user_code);
  assert.notEqual(second?.user_code, first?.user_code);
  assert.ok(agent.logs().some((l) => l.event === 'code_expired'));
  await idp.faults({ device_code_expires_in: 900 });
  await idp.approve(second!.user_code);
  await agent.waitForState('signed_in');
});

test('a declined code shows the decline, then a fresh code', async (t) => {
  const { idp, agent } = await startKiosk(t);
  await agent.waitForState('awaiting_sign_in');
  const [first] = await idp.waitForPending();
  await idp.decline(first!.user_code);
  const declined = await agent.waitForLog((l) => l.msg === 'state' && /declined/i.test(String(l.detail)), 10_000, 'the decline on screen');
  assert.equal(declined.state, 'awaiting_sign_in');
  const [second] = await idp.waitForPending((c) => c.user_code !== first!.user_code, 15_000);
  assert.ok(second);
  assert.ok(agent.logs().some((l) => l.event === 'sign_in_failed' && l.reason === 'declined'));
  await idp.approve(second.user_code);
  await agent.waitForState('signed_in');
});
