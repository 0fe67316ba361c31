/**
 * A kiosk on an Entra External ID tenant as it is in the field: the authority `https://contoso.ciamlogin.com/`
 * on port 443 and the global page `https://microsoft.com/devicelogin`, both names resolving to the local
 * provider (a random 127.x.y.z) through an `/etc/hosts` of the agent's own in a private mount namespace.
 * TLS is verified throughout; the provider's CA is trusted through NODE_EXTRA_CA_CERTS.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { allDisplays, FB_GEOMETRY } from './faults/screens.js';
import { launchBrowser, qrLoaded, textOf } from './helpers/browser.js';
import { decodeQr, readFrame } from './helpers/framebuffer-png.js';
import { canMountNamespace, privateHosts } from './helpers/idp.js';
import { startKiosk } from './helpers/kiosk.js';
import type { Kiosk, KioskOptions } from './helpers/kiosk.js';
import { decodeTerminalQr } from './helpers/qr-decode.js';
import { eventually } from './helpers/wait.js';

/** Set to a directory (e.g. docs/images) to keep the kiosk page's screenshot. */
const SHOTS = process.env.KIOSK_SCREENSHOT_DIR;
const HOST = 'contoso.ciamlogin.com';
const GLOBAL_PAGE = 'https://microsoft.com/devicelogin';
const TENANT_PAGE = `https://${HOST}/common/oauth2/deviceauth`;
const skip = process.getuid?.() !== 0 ? 'port 443 and a private mount namespace need root' : !canMountNamespace() && 'no private mount namespace here';
const [FB_WIDTH, FB_HEIGHT] = FB_GEOMETRY.split('x').map(Number) as [number, number];

/** The provider as External ID, on 127.x.y.z:443, named contoso.ciamlogin.com and microsoft.com for the agent. */
function externalIdKiosk(t: TestContext, env: Record<string, string> = {}, more: KioskOptions = {}): Promise<Kiosk> {
  return startKiosk(t, {
    ...more,
    idp: { host: `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`, port: 443, hostnames: [HOST], tenantAliases: ['contoso.onmicrosoft.com'], externalId: true, deviceCodeInterval: 1, ...more.idp },
    authority: () => `https://${HOST}/`,
    wrap: (idp) => privateHosts(idp.dir, idp.address, [HOST, 'microsoft.com']),
    env,
  });
}

interface State {
  state: string;
  user_code?: string;
  verification_uri?: string;
  account?: { name?: string };
}

test('External ID: every display shows and encodes the tenant\'s page; the global page refuses the account, the tenant page signs it in', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-ciam-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const names = { KIOSK_DEVICE_NAME: 'Lobby screen', KIOSK_LOCATION: 'Reception' };
  const [k, browser] = await Promise.all([externalIdKiosk(t, { ...allDisplays(dir), ...names }), launchBrowser(t)]);
  const [pending] = await k.idp.waitForPending();
  assert.ok(pending);
  assert.equal(pending.verification_uri, GLOBAL_PAGE, 'the provider names the global page, as Entra does');

  const chosen = await k.agent.waitForLog((l) => l.msg === 'sign-in page chosen', 20_000, 'the page choice in the log');
  assert.equal(chosen.page, TENANT_PAGE);
  assert.match(String(chosen.reason), /AADSTS500208/);

  // MQTT: the page shown.
  const state = JSON.parse((await k.mqtt.waitFor('kiosk/test-kiosk/state', (m) => m.text.includes(pending.user_code))).text) as State;
  assert.equal(state.verification_uri, TENANT_PAGE);
  // Terminal (plain lines on a pipe): the URL line and its QR.
  await eventually(() => k.agent.stdout().includes(`URL: ${TENANT_PAGE}`), 10_000, 'the tenant page on the terminal');
  assert.ok(!k.agent.stdout().includes(GLOBAL_PAGE), 'the global page is never shown');
  assert.equal(decodeTerminalQr(k.agent.stdout().slice(k.agent.stdout().lastIndexOf(`Code: ${pending.user_code}`))), TENANT_PAGE);
  // Framebuffer: its QR, decoded from the pixels.
  await eventually(async () => decodeQr(await readFrame(join(dir, 'fb.raw'), { width: FB_WIDTH, height: FB_HEIGHT, bpp: 16 })) === TENANT_PAGE, 10_000, 'the framebuffer QR');
  // The kiosk page in Chromium: the URL and the QR on screen.
  const listening = await k.agent.waitForLog((l) => l.msg === 'kiosk page listening', 20_000, 'the kiosk page');
  const page = await browser.open(`http://127.0.0.1:${String(listening.port)}/`);
  await eventually(async () => (await textOf(page, 'url')) === TENANT_PAGE, 10_000, 'the tenant page on the kiosk page');
  await qrLoaded(page);
  const shot = await page.screenshot();
  assert.equal(await browser.decodeQr(shot), TENANT_PAGE);
  if (SHOTS !== undefined) await writeFile(join(SHOTS, 'web-external-id.png'), shot);

  // The person at the kiosk: the global page refuses the tenant's own account; the code stays usable.
  const refused = await k.idp.submitVerificationPage(GLOBAL_PAGE, pending.user_code, 'alice');
  assert.equal(refused.status, 403);
  assert.match(refused.text, /AADSTS500208/);
  const accepted = await k.idp.submitVerificationPage(state.verification_uri, pending.user_code, 'alice');
  assert.equal(accepted.status, 200, accepted.text);
  await k.agent.waitForState('signed_in', 20_000);
  const signedIn = JSON.parse((await k.mqtt.waitFor('kiosk/test-kiosk/state', (m) => m.text.includes('"signed_in"'))).text) as State;
  assert.equal(signedIn.account?.name, 'Alice Example');
  assert.equal(k.agent.logs().filter((l) => l.msg === 'sign-in page chosen').length, 1, 'the choice is logged once');
  const metadata = (await k.idp.requests()).filter((r) => r.endpoint === 'metadata');
  assert.equal(metadata[0]?.path, '/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration', 'MSAL\'s own External ID authority path');
  // The request begun at process start was that path: MSAL took its answer instead of asking again.
  assert.equal(metadata.length, 1, 'one discovery request');
});

test('External ID with KIOSK_VERIFICATION_URI: that page, on screen and in MQTT, always', { skip }, async (t) => {
  const custom = 'https://sign-in.contoso.example/common/oauth2/deviceauth';
  const k = await externalIdKiosk(t, { KIOSK_VERIFICATION_URI: custom });
  const [pending] = await k.idp.waitForPending();
  assert.ok(pending);
  const state = JSON.parse((await k.mqtt.waitFor('kiosk/test-kiosk/state', (m) => m.text.includes(pending.user_code))).text) as State;
  assert.equal(state.verification_uri, custom);
  await eventually(() => k.agent.stdout().includes(`URL: ${custom}`), 10_000, 'the page on the terminal');
  assert.equal(decodeTerminalQr(k.agent.stdout()), custom);
  const chosen = await k.agent.waitForLog((l) => l.msg === 'sign-in page chosen', 5_000, 'the page choice in the log');
  assert.match(String(chosen.reason), /KIOSK_VERIFICATION_URI/);
});
