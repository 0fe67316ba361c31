// A first boot's device code is asked for at process start, shown before MSAL has loaded, and then polled
// by MSAL from that same answer: one device-code request, the code on screen is the one that signs in,
// never replaced by a second. A boot that needs no code (a cached account, KIOSK_SIGN_IN=on_request)
// asks for none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EarlyProvider } from '../src/auth/early-provider.js';
import { deviceCodeForm, deviceCodeUrl, predictedDeviceCodeUrl, sameDeviceCodeRequest, startProviderEarly, surelyTrustedIssuer } from '../src/auth/early-provider.js';
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

test('first boot, the provider far away: the code is asked for with the discovery request, not after its answer', async (t) => {
  // Every answer waits DELAY_MS: a device-code request sent after the discovery answer would arrive that much later.
  const DELAY_MS = 1_500;
  const k = await startKiosk(t, { before: (idp) => idp.faults({ delay_ms: DELAY_MS }) });
  await signsInWithTheFirstCode(k);
  const requests = await k.idp.requests();
  const discovery = requests.find((r) => r.endpoint === 'metadata');
  const code = requests.find((r) => r.endpoint === 'devicecode');
  assert.ok(discovery && code, requests.map((r) => r.endpoint).join(' '));
  assert.ok(code.at - discovery.at < DELAY_MS, `the code was asked for ${code.at - discovery.at} ms after discovery, before its answer`);
});

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

test('the code is asked for with discovery only where the authority tells MSAL\'s URL, which the document must then name', () => {
  const guid = '3f1c6a2e-9b7d-4e2a-8c61-5d0f7e9a1b24';
  assert.equal(predictedDeviceCodeUrl(`https://login.example/${guid}/`, {}), `https://login.example/${guid}/oauth2/v2.0/devicecode`);
  assert.equal(predictedDeviceCodeUrl(`https://contoso.ciamlogin.com/${guid.toUpperCase()}`, { dc: 'ESTS' }), `https://contoso.ciamlogin.com/${guid}/oauth2/v2.0/devicecode?dc=ESTS`);
  assert.equal(predictedDeviceCodeUrl('https://contoso.ciamlogin.com/', {}), undefined, 'External ID names its tenant id only in the document');
  assert.equal(predictedDeviceCodeUrl('https://contoso.ciamlogin.com/contoso.onmicrosoft.com/', {}), undefined);
  assert.equal(predictedDeviceCodeUrl('https://login.example/Contoso.onmicrosoft.com', {}), 'https://login.example/contoso.onmicrosoft.com/oauth2/v2.0/devicecode');
  for (const tenant of ['common', 'organizations', 'consumers']) assert.equal(predictedDeviceCodeUrl(`https://login.example/${tenant}/`, {}), undefined, tenant);
  assert.equal(predictedDeviceCodeUrl('https://login.example/', {}), undefined, 'no tenant segment');
  assert.equal(predictedDeviceCodeUrl('https://login.example/a/b/', {}), undefined, 'two segments');
  assert.equal(predictedDeviceCodeUrl(`https://login.example/${guid}/v2.0/`, {}), undefined);
  assert.equal(predictedDeviceCodeUrl('not a url', {}), undefined);
  // Wherever it answers, it is the URL MSAL derives from a document laid out as Microsoft's are, tenant aliases included.
  for (const [authority, providerTenant] of [[`https://login.example/${guid}/`, guid], ['https://login.example/contoso.onmicrosoft.com/', guid], [`https://x.ciamlogin.com/${guid}/`, guid]] as const) {
    const doc = { token_endpoint: `${new URL(authority).origin}/${providerTenant}/oauth2/v2.0/token`, authorization_endpoint: `${new URL(authority).origin}/${providerTenant}/oauth2/v2.0/authorize` };
    assert.equal(predictedDeviceCodeUrl(authority, { dc: 'x' }), deviceCodeUrl(doc, authority, { dc: 'x' }), authority);
  }
});

/**
 * A provider on loopback `node:http` answering with `handle`, and the requests a first boot begins at
 * start against its tenant `guid`; `prepare` writes into the kiosk's directory before they begin.
 */
async function startEarlyAgainst(
  t: TestContext, guid: string, handle: RequestListener, prepare?: (authority: string, dir: string) => Promise<void>,
): Promise<{ early: EarlyProvider; authority: string }> {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-early-'));
  t.after(async () => {
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const authority = `http://127.0.0.1:${(server.address() as AddressInfo).port}/${guid}/`;
  await prepare?.(authority, dir);
  const early = startProviderEarly({
    authority, knownAuthorities: [], cachePath: join(dir, 'token-cache.json'), httpTimeoutSeconds: 10,
    clientId: 'c1', scopes: ['openid'], extraQueryParameters: {}, signIn: 'auto',
  });
  t.after(() => early.agents.http.destroy());
  return { early, authority };
}

test('a document naming another device-code URL than the one asked for with discovery: its own is asked for, the first code never used', async (t) => {
  const guid = '3f1c6a2e-9b7d-4e2a-8c61-5d0f7e9a1b24';
  const posts: string[] = [];
  let posted = (): void => undefined;
  const firstPost = new Promise<void>((resolve) => (posted = resolve));
  let discoveryAnswered = false;
  // A provider whose endpoints are laid out otherwise (no v2.0): MSAL would ask at /<tenant>/oauth2/devicecode.
  const { early, authority } = await startEarlyAgainst(t, guid, (req, res) => {
    const origin = `http://${req.headers.host}`;
    if (req.method === 'GET' && req.url === `/${guid}/v2.0/.well-known/openid-configuration`) {
      // Answered once a code was asked for (or after 5 s): a request sent only after this answer cannot come first.
      void Promise.race([firstPost, new Promise((r) => setTimeout(r, 5_000))]).then(() => {
        discoveryAnswered = true;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ issuer: `${origin}/${guid}/v2.0`, token_endpoint: `${origin}/${guid}/oauth2/token`, authorization_endpoint: `${origin}/${guid}/oauth2/authorize` }));
      });
      return;
    }
    posts.push(req.url ?? '');
    posted();
    req.resume();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ device_code: `dc-${posts.length}`, user_code: `CODE${posts.length}`, verification_uri: `${origin}/device`, expires_in: 900, interval: 5 }));
  });
  // Told it only waits once both requests are on the wire, not when the document has come: the provider
  // answers discovery only after the code request reached it.
  await early.sent;
  assert.equal(discoveryAnswered, false, 'told before any answer');
  const code = await early.deviceCode;
  assert.deepEqual(posts, [`/${guid}/oauth2/v2.0/devicecode`, `/${guid}/oauth2/devicecode`], 'asked with discovery, then where the document says');
  assert.equal(code?.url, `${authority}oauth2/devicecode`);
  assert.match(code?.answer.text ?? '', /"user_code":"CODE2"/, 'the code of the URL MSAL will ask at');
});

test('a reboot with the discovery document saved: the agent is told it only waits once the code request is on the wire', async (t) => {
  const guid = '0b8e4f2a-6c1d-4e3b-9a7f-2d5c8e1f0a63';
  let release = (): void => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  let answered = false;
  t.after(() => release());
  const saveDocument = async (authority: string, dir: string): Promise<void> => {
    const tenant = authority.slice(0, -1);
    const document = { issuer: `${tenant}/v2.0`, authorization_endpoint: `${tenant}/oauth2/v2.0/authorize`, token_endpoint: `${tenant}/oauth2/v2.0/token`, jwks_uri: `${tenant}/discovery/v2.0/keys` };
    await writeFile(join(dir, 'provider-metadata.json'), JSON.stringify({ version: 2, documents: { [`${authority}v2.0/.well-known/openid-configuration`]: { fetched_at: Date.now(), body: document } } }));
  };
  const { early } = await startEarlyAgainst(t, guid, (req, res) => {
    req.resume();
    // The code is answered only once the test has looked.
    void held.then(() => {
      answered = true;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ device_code: 'dc', user_code: 'SAVED1', verification_uri: `http://${req.headers.host}/device`, expires_in: 900, interval: 5 }));
    });
  }, saveDocument);
  assert.equal(early.requests.size, 0, 'no discovery request: the saved document is fresh');
  await early.sent;
  const sockets = Object.values(early.agents.http.sockets).flat();
  assert.equal(sockets.length, 1, 'the code request has its connection');
  assert.equal(sockets[0]?.connecting, false, 'connected, the request written');
  assert.equal(answered, false, 'told before the answer');
  release();
  assert.match((await early.deviceCode)?.answer.text ?? '', /SAVED1/);
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
