// A first boot's device code is asked for at process start, shown before MSAL has loaded, and then polled
// by MSAL from that same answer: one device-code request, the code on screen is the one that signs in,
// never replaced by a second. A boot that needs no code (a cached account, KIOSK_SIGN_IN=on_request)
// asks for none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deviceCodeForm, deviceCodeUrl, sameDeviceCodeRequest, surelyTrustedIssuer } from '../src/auth/early-provider.js';
import { startKiosk } from './helpers/kiosk.js';
import type { Kiosk, KioskOptions } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

const MISMATCH = /not the one MSAL asks for/;

const deviceCodeRequests = async (k: Kiosk): Promise<number> => (await k.idp.requests()).filter((r) => r.endpoint === 'devicecode').length;

/** Boots, checks the code on screen is the only one asked for, approves it, and waits for `signed_in`. */
async function signsInWithTheFirstCode(k: Kiosk): Promise<void> {
  await k.agent.waitForState('awaiting_sign_in');
  await eventually(() => /Code: \w+/.test(k.agent.stdout()), 10_000, 'the code on screen');
  const shown = /Code: (\w+)/.exec(k.agent.stdout())?.[1];
  const [pending] = await k.idp.waitForPending();
  assert.equal(pending?.user_code, shown, 'the code on screen is the one the provider issued');
  await k.idp.approve(shown!);
  await k.agent.waitForState('signed_in');
  assert.equal(await deviceCodeRequests(k), 1, 'one device-code request: MSAL polled the one asked for at start');
  assert.deepEqual(k.agent.states().filter((s) => s === 'awaiting_sign_in'), ['awaiting_sign_in'], 'no second code replaced it');
  assert.ok(!k.agent.logs().some((l) => MISMATCH.test(l.msg)), 'MSAL asked for the same code');
  assert.equal(k.agent.logs().filter((l) => l.event === 'code_issued').length, 1, 'one code_issued event');
}

const shapes: Array<[string, KioskOptions]> = [
  ['the provider\'s own authority', {}],
  ['extra query parameters and API scopes', { env: { KIOSK_EXTRA_QUERY_PARAMETERS: 'dc=ESTS-PUB-WEULR1-AZ1-FD000-TEST1&slice=testslice', KIOSK_SCOPES: 'api://kiosk/read openid' } }],
  ['a tenant-name alias (the provider\'s endpoints name the tenant id)', {
    idp: { tenantAliases: ['contoso.onmicrosoft.com'] },
    authority: (p) => `${p.origin}/contoso.onmicrosoft.com/`,
  }],
];
for (const [what, options] of shapes) {
  test(`first boot, ${what}: the code asked for at start is the one MSAL polls`, async (t) => {
    await signsInWithTheFirstCode(await startKiosk(t, options));
  });
}

test('a reboot with a cached account, and KIOSK_SIGN_IN=on_request, ask for no code at start', async (t) => {
  const k = await startKiosk(t);
  await signsInWithTheFirstCode(k);
  await k.agent.stop();
  const again = await k.reboot();
  await again.waitForState('signed_in');
  assert.equal(await deviceCodeRequests(k), 1, 'signed in from the cache: no device code asked for');
  await again.stop();

  const onRequest = await startKiosk(t, { env: { KIOSK_SIGN_IN: 'on_request' } });
  await onRequest.agent.waitForLog((l) => l.msg === 'state' && l.state === 'awaiting_sign_in', 10_000, 'Not signed in');
  assert.equal(await deviceCodeRequests(onRequest), 0, 'nobody asked: no code');
});

test('the early request is the one MSAL makes: its URL and form, compared scope by scope', () => {
  const doc = { token_endpoint: 'https://login.example/9f3a/oauth2/v2.0/token', authorization_endpoint: 'https://login.example/9f3a/oauth2/v2.0/authorize' };
  const config = { clientId: 'c1', scopes: ['api://x/.default', 'openid'], extraQueryParameters: { dc: 'ESTS' } };
  assert.equal(deviceCodeUrl(doc, 'https://login.example/9f3a/', config.extraQueryParameters), 'https://login.example/9f3a/oauth2/v2.0/devicecode?dc=ESTS');
  assert.equal(deviceCodeUrl(doc, 'https://login.example/Contoso.onmicrosoft.com', {}), 'https://login.example/contoso.onmicrosoft.com/oauth2/v2.0/devicecode', 'the authority\'s own tenant segment, as MSAL puts it back');
  assert.equal(deviceCodeUrl(doc, 'https://login.example/common/', {}), 'https://login.example/9f3a/oauth2/v2.0/devicecode', 'a reserved tenant is never put back');
  assert.equal(deviceCodeUrl({ ...doc, token_endpoint: 'https://login.example/{tenant}/oauth2/v2.0/token' }, 'https://login.example/9f3a/', {}), undefined, 'MSAL fills {tenant} in itself: no early request');
  assert.equal(deviceCodeUrl({}, 'https://login.example/9f3a/', {}), undefined);
  const form = deviceCodeForm(config);
  assert.deepEqual(Object.fromEntries(new URLSearchParams(form)), { scope: 'api://x/.default openid profile offline_access', client_id: 'c1', dc: 'ESTS' });
  const early = { url: 'https://login.example/9f3a/oauth2/v2.0/devicecode?dc=ESTS', body: form };
  assert.ok(sameDeviceCodeRequest(early, early.url, 'client_id=c1&scope=offline_access+openid+profile+api%3A%2F%2Fx%2F.default&dc=ESTS'), 'the same form in another order');
  assert.ok(!sameDeviceCodeRequest(early, early.url, 'client_id=c1&scope=openid+profile+offline_access&dc=ESTS'), 'another scope set');
  assert.ok(!sameDeviceCodeRequest(early, early.url, `${form}&claims=%7B%7D`), 'a parameter more');
  assert.ok(!sameDeviceCodeRequest(early, 'https://login.example/9f3a/oauth2/v2.0/devicecode', form), 'another URL');
});

test('an early code only for an issuer MSAL will surely trust: the authority\'s own origin, or a known authority', () => {
  const known = ['https://login.example', 'https://9f3a.ciamlogin.com'];
  assert.ok(surelyTrustedIssuer({ issuer: 'https://login.example/9f3a/v2.0' }, 'https://login.example/9f3a/', known));
  assert.ok(surelyTrustedIssuer({ issuer: 'https://9f3a.ciamlogin.com/9f3a/v2.0' }, 'https://contoso.ciamlogin.com/', known));
  assert.ok(!surelyTrustedIssuer({ issuer: 'https://9f3a.ciamlogin.com/9f3a/v2.0' }, 'https://contoso.ciamlogin.com/', ['https://contoso.ciamlogin.com']));
  assert.ok(!surelyTrustedIssuer({ issuer: 'http://login.example/9f3a/v2.0' }, 'https://login.example/9f3a/', known), 'another scheme');
  assert.ok(!surelyTrustedIssuer({ issuer: 'https://login.example:8443/9f3a/v2.0' }, 'https://login.example/9f3a/', ['https://contoso.example']), 'another port');
  assert.ok(!surelyTrustedIssuer({}, 'https://login.example/9f3a/', known), 'no issuer');
  assert.ok(!surelyTrustedIssuer({ issuer: 'not a url' }, 'https://login.example/9f3a/', known));
});
