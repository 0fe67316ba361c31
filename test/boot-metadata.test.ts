// The discovery document at boot: asked for once, while MSAL loads; on a reboot served from the saved copy
// while it is fresh (no discovery request), and fetched again when it is stale, damaged, of another
// authority, or not one MSAL could use.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { discoveryUrl } from '../src/auth/early-provider.js';
import { DISCOVERY_FRESH_MS } from '../src/auth/metadata-store.js';
import { startKiosk } from './helpers/kiosk.js';
import type { Kiosk } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

interface SavedFile {
  version: number;
  documents: Record<string, { fetched_at: number; body: Record<string, unknown> }>;
}

const count = async (k: Kiosk, endpoint: string): Promise<number> => (await k.idp.requests()).filter((r) => r.endpoint === endpoint).length;
const saved = async (k: Kiosk): Promise<SavedFile> => JSON.parse(await readFile(join(k.agent.dir, 'provider-metadata.json'), 'utf8')) as SavedFile;
const discoveryKey = (k: Kiosk): string => `${k.idp.authority.toLowerCase()}v2.0/.well-known/openid-configuration`;

/**
 * A kiosk whose first boot has shown a code, stopped once its metadata file is saved (the code is on
 * screen before MSAL has loaded; the document is saved when MSAL has read it).
 */
async function bootedOnce(t: Parameters<typeof startKiosk>[0]): Promise<Kiosk> {
  const k = await startKiosk(t);
  await k.agent.waitForState('awaiting_sign_in');
  await eventually(async () => (await saved(k).catch(() => undefined))?.documents[discoveryKey(k)] !== undefined, 10_000, 'the discovery document saved');
  await k.agent.stop();
  return k;
}

test('first boot: one discovery request (begun before MSAL loaded, its answer handed to MSAL), saved with its fetch time', async (t) => {
  const before = Date.now();
  const k = await bootedOnce(t);
  assert.equal(await count(k, 'metadata'), 1, 'MSAL did not ask a second time');
  const file = await saved(k);
  assert.equal(file.version, 2);
  const entry = file.documents[discoveryKey(k)];
  assert.ok(entry, `saved under ${discoveryKey(k)}: ${Object.keys(file.documents).join(', ')}`);
  assert.equal(typeof entry.body.token_endpoint, 'string');
  assert.ok(entry.fetched_at >= before && entry.fetched_at <= Date.now(), 'fetched during this boot');
});

test('reboot with the saved document fresh: a code on screen without any discovery request', async (t) => {
  const k = await bootedOnce(t);
  const codes = await count(k, 'devicecode');
  const again = await k.reboot();
  await again.waitForState('awaiting_sign_in');
  await eventually(() => /Code: \w+/.test(again.stdout()), 10_000, 'the code on screen');
  assert.equal(await count(k, 'metadata'), 1, 'no discovery request on the reboot');
  assert.equal(await count(k, 'devicecode'), codes + 1, 'the device-code request went to the saved document\'s endpoint');
});

test('a saved document older than a day, of another authority, or missing what MSAL reads, is fetched again', async (t) => {
  const k = await bootedOnce(t);
  const path = join(k.agent.dir, 'provider-metadata.json');
  const file = await saved(k);
  const entry = file.documents[discoveryKey(k)];
  assert.ok(entry);
  const variants: Array<[string, SavedFile['documents']]> = [
    ['stale', { [discoveryKey(k)]: { ...entry, fetched_at: Date.now() - DISCOVERY_FRESH_MS - 60_000 } }],
    ['from the future (a clock behind)', { [discoveryKey(k)]: { ...entry, fetched_at: Date.now() + 3_600_000 } }],
    ['another authority', { [discoveryKey(k).replace(k.idp.tenantId.toLowerCase(), 'another-tenant')]: entry }],
    ['without a token endpoint', { [discoveryKey(k)]: { ...entry, body: { ...entry.body, token_endpoint: undefined } } }],
  ];
  for (const [what, documents] of variants) {
    await writeFile(path, JSON.stringify({ version: 2, documents }));
    const asked = await count(k, 'metadata');
    const again = await k.reboot();
    await again.waitForState('awaiting_sign_in');
    await again.stop();
    assert.equal(await count(k, 'metadata'), asked + 1, `${what}: fetched again`);
    const rewritten = (await saved(k)).documents[discoveryKey(k)];
    assert.ok(rewritten && Date.now() - rewritten.fetched_at < 60_000 && typeof rewritten.body.token_endpoint === 'string', `${what}: saved fresh`);
  }
});

test('a damaged metadata file is ignored with a warning: the boot fetches the document and shows a code', async (t) => {
  const k = await bootedOnce(t);
  const path = join(k.agent.dir, 'provider-metadata.json');
  for (const damage of ['{"version":2,"documents":', '[1,2,3]', '{"version":9,"documents":{}}', '\u0000\u0001binary']) {
    await writeFile(path, damage);
    const asked = await count(k, 'metadata');
    const again = await k.reboot();
    await again.waitForState('awaiting_sign_in');
    await again.stop();
    assert.ok(again.logs().some((l) => l.level === 'warn' && /metadata is damaged/.test(l.msg)), `${JSON.stringify(damage)}: a warning`);
    assert.equal(await count(k, 'metadata'), asked + 1, `${JSON.stringify(damage)}: fetched again`);
    assert.equal((await saved(k)).version, 2, `${JSON.stringify(damage)}: replaced by a good file`);
  }
});

test('a file of the earlier shape (URL to document) is read: used when the provider is down, refreshed at boot', async (t) => {
  const k = await bootedOnce(t);
  const path = join(k.agent.dir, 'provider-metadata.json');
  const entry = (await saved(k)).documents[discoveryKey(k)];
  assert.ok(entry);
  await writeFile(path, JSON.stringify({ [discoveryKey(k)]: entry.body }));
  const asked = await count(k, 'metadata');
  const again = await k.reboot();
  await again.waitForState('awaiting_sign_in');
  await again.stop();
  assert.equal(await count(k, 'metadata'), asked + 1, 'no fetch time: fetched');
  assert.equal((await saved(k)).version, 2);
});

test('the discovery URL asked for at process start is the one MSAL 7 asks for', () => {
  assert.equal(discoveryUrl('https://login.microsoftonline.com/Contoso.onmicrosoft.com/'), 'https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration');
  assert.equal(discoveryUrl('https://127.0.0.1:8443/tenant/v2.0/'), 'https://127.0.0.1:8443/tenant/v2.0/.well-known/openid-configuration');
  assert.equal(discoveryUrl('https://contoso.ciamlogin.com/'), 'https://contoso.ciamlogin.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration');
  assert.equal(discoveryUrl('https://contoso.ciamlogin.com:8443/'), 'https://contoso.ciamlogin.com:8443/v2.0/.well-known/openid-configuration');
  assert.equal(discoveryUrl('https://adfs.contoso.com/adfs/'), undefined, 'ADFS: MSAL asks elsewhere; nothing is begun early');
  assert.equal(discoveryUrl('not a url'), undefined);
});
