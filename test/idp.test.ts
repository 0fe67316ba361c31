import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { startIdp } from '../src/idp/server.js';
import { runMsalDeviceCode, startTestIdp, wire } from './helpers/idp.js';
import type { TestIdp, WireResponse } from './helpers/idp.js';

const CLIENT_ID = 'idp-test-client';
const SCOPE = 'openid profile offline_access';
const USER_CODE = /^[A-HJ-KM-NP-TW-Z2-9]{9}$/;
const ROOT = new URL('..', import.meta.url).pathname;

async function provider(t: TestContext, options: Parameters<typeof startTestIdp>[0] = {}): Promise<TestIdp> {
  const idp = await startTestIdp({ deviceCodeInterval: 1, ...options });
  t.after(() => idp.close());
  return idp;
}

const tenantPath = (idp: TestIdp, rest: string): string => `/${idp.tenantId}/${rest}`;
const deviceCode = (idp: TestIdp, clientId = CLIENT_ID, scope = SCOPE) =>
  idp.wire(tenantPath(idp, 'oauth2/v2.0/devicecode'), { form: { client_id: clientId, scope } });
const poll = (idp: TestIdp, code: unknown, grantType = 'device_code', clientId = CLIENT_ID) =>
  idp.wire(`${tenantPath(idp, 'oauth2/v2.0/token')}?client-request-id=11111111-2222-3333-4444-555555555555`, {
    form: { client_id: clientId, grant_type: grantType, device_code: String(code), scope: SCOPE, client_info: '1' },
  });
const refresh = (idp: TestIdp, token: unknown, clientId = CLIENT_ID) =>
  idp.wire(tenantPath(idp, 'oauth2/v2.0/token'), {
    form: { client_id: clientId, grant_type: 'refresh_token', refresh_token: String(token), scope: SCOPE, client_info: '1' },
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Device code, approval through the control API, one poll: the token response. */
async function signIn(idp: TestIdp, user?: string): Promise<Record<string, unknown>> {
  const dc = await deviceCode(idp);
  assert.equal(dc.status, 200, dc.text);
  await idp.approve(String(dc.json.user_code), user);
  const res = await poll(idp, dc.json.device_code);
  assert.equal(res.status, 200, res.text);
  return res.json;
}

async function keySet(idp: TestIdp) {
  const res = await idp.wire(tenantPath(idp, 'discovery/v2.0/keys'));
  assert.equal(res.status, 200);
  return createLocalJWKSet(res.json as unknown as JSONWebKeySet);
}

/** Asserts an Entra-shaped error body. */
function assertEntraError(res: WireResponse, status: number, error: string, code: number, suberror?: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error);
  assert.deepEqual(res.json.error_codes, [code]);
  const description = String(res.json.error_description);
  assert.match(description, new RegExp(`^AADSTS${code}: .+\\r\\nTrace ID: [0-9a-f-]{36}\\r\\nCorrelation ID: [\\w-]+\\r\\nTimestamp: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`));
  assert.match(String(res.json.timestamp), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
  assert.match(String(res.json.trace_id), /^[0-9a-f-]{36}$/);
  assert.ok(description.includes(`Correlation ID: ${String(res.json.correlation_id)}`));
  assert.equal(res.json.suberror, suberror);
}

test('discovery document and JWKS are Entra-shaped and self-consistent', async (t) => {
  const idp = await provider(t);
  assert.match(idp.authority, /^https:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]{36}\/$/);
  const res = await idp.wire(tenantPath(idp, 'v2.0/.well-known/openid-configuration'));
  assert.equal(res.status, 200);
  assert.match(String(res.headers['cache-control']), /no-store/);
  const m = res.json;
  const base = `${idp.origin}/${idp.tenantId}`;
  assert.equal(m.issuer, `${base}/v2.0`);
  assert.equal(m.token_endpoint, `${base}/oauth2/v2.0/token`);
  assert.equal(m.device_authorization_endpoint, `${base}/oauth2/v2.0/devicecode`);
  assert.equal(String(m.token_endpoint).replace('/token', '/devicecode'), m.device_authorization_endpoint, 'MSAL derives the device endpoint this way');
  assert.equal(m.authorization_endpoint, `${base}/oauth2/v2.0/authorize`);
  assert.equal(m.end_session_endpoint, `${base}/oauth2/v2.0/logout`);
  assert.equal(m.jwks_uri, `${base}/discovery/v2.0/keys`);
  assert.deepEqual(m.id_token_signing_alg_values_supported, ['RS256']);
  const keys = await idp.wire(new URL(String(m.jwks_uri)).pathname);
  const [key] = keys.json.keys as Record<string, string>[];
  assert.equal(key?.kty, 'RSA');
  assert.equal(key?.use, 'sig');
  assert.ok(key?.kid && key.n && key.e);
  assert.equal((keys.json.keys as unknown[]).length, 1);
  assert.equal(key?.d, undefined, 'no private part');
});

test('an unknown tenant gets AADSTS90002 on every endpoint; unknown paths and methods are refused', async (t) => {
  const idp = await provider(t);
  const other = '00000000-0000-0000-0000-000000000001';
  for (const path of ['v2.0/.well-known/openid-configuration', 'discovery/v2.0/keys']) {
    assertEntraError(await idp.wire(`/${other}/${path}`), 400, 'invalid_tenant', 90002);
  }
  assertEntraError(await idp.wire(`/${other}/oauth2/v2.0/devicecode`, { form: { client_id: CLIENT_ID, scope: SCOPE } }), 400, 'invalid_tenant', 90002);
  const token = await idp.wire(`/contoso.onmicrosoft.com/oauth2/v2.0/token`, { form: { client_id: CLIENT_ID } });
  assertEntraError(token, 400, 'invalid_tenant', 90002);
  assert.match(String(token.json.error_description), /Tenant 'contoso\.onmicrosoft\.com' not found/);
  assertEntraError(await idp.wire(tenantPath(idp, 'oauth2/v2.0/token')), 400, 'invalid_request', 900561);
  assert.equal((await idp.wire('/nothing/here')).status, 404);
  assert.deepEqual((await idp.requests()).map((r) => r.endpoint), ['metadata', 'keys', 'devicecode', 'token', 'token', 'other']);
});

test('device code flow over HTTPS: pending, approval, tokens, client_info, one redemption only', async (t) => {
  const idp = await provider(t);
  const dc = await deviceCode(idp);
  assert.equal(dc.status, 200, dc.text);
  const { user_code, device_code, verification_uri, verification_uri_complete, expires_in, interval, message } = dc.json;
  assert.match(String(user_code), USER_CODE);
  assert.ok(String(device_code).length > 100);
  assert.equal(verification_uri, idp.verificationUri);
  assert.equal(verification_uri_complete, `${idp.verificationUri}?user_code=${String(user_code)}`);
  assert.equal(expires_in, 900);
  assert.equal(interval, 1);
  assert.match(String(message), new RegExp(`${String(user_code)}`));

  const pendingPoll = await poll(idp, device_code);
  assertEntraError(pendingPoll, 400, 'authorization_pending', 70016);
  assert.equal(pendingPoll.json.correlation_id, '11111111-2222-3333-4444-555555555555', 'client-request-id is echoed');
  const [pending] = await idp.pending();
  assert.equal(pending?.user_code, user_code);
  assert.equal(pending?.client_id, CLIENT_ID);
  assert.equal(pending?.scope, SCOPE);
  assert.ok(Date.parse(pending?.expires_at ?? '') > Date.now() + 800_000);
  assert.ok(!JSON.stringify(await idp.pending()).includes(String(device_code)), 'the device code is never listed');

  const approved = await idp.approve(String(user_code).toLowerCase(), 'bob');
  assert.equal(approved.status, 'approved');
  assert.deepEqual(await idp.pending(), []);
  await sleep(1_000);
  const res = await poll(idp, device_code, 'urn:ietf:params:oauth:grant-type:device_code');
  assert.equal(res.status, 200, res.text);
  const body = res.json;
  assert.equal(body.token_type, 'Bearer');
  assert.equal(body.scope, SCOPE);
  assert.equal(body.expires_in, 3600);
  assert.equal(body.ext_expires_in, 3600);
  assert.ok(String(body.refresh_token).length > 200);
  const users = (await idp.control('GET', 'users')).body as { id: string; oid: string }[];
  const bob = users.find((u) => u.id === 'bob');
  const info = JSON.parse(Buffer.from(String(body.client_info), 'base64url').toString()) as unknown;
  assert.deepEqual(info, { uid: bob?.oid, utid: idp.tenantId });

  const claims = (await jwtVerify(String(body.id_token), await keySet(idp), { issuer: `${idp.origin}/${idp.tenantId}/v2.0`, audience: CLIENT_ID })).payload;
  for (const k of ['iss', 'aud', 'sub', 'oid', 'tid', 'name', 'preferred_username', 'email', 'iat', 'nbf', 'exp', 'ver']) assert.ok(k in claims, k);
  assert.equal(claims.oid, bob?.oid);
  assert.equal(claims.tid, idp.tenantId);
  assert.equal(claims.name, 'Bob Example');
  assert.equal(claims.preferred_username, 'bob@example.test');
  assert.equal(claims.ver, '2.0');
  assert.equal(decodeProtectedHeader(String(body.id_token)).alg, 'RS256');
  const access = await jwtVerify(String(body.access_token), await keySet(idp));
  assert.equal(access.payload.azp, CLIENT_ID);
  assert.equal((access.payload.exp ?? 0) - (access.payload.iat ?? 0), 3600);

  await sleep(1_000);
  assertEntraError(await poll(idp, device_code), 400, 'invalid_grant', 54005);
  const issued = await idp.issued();
  for (const secret of [device_code, body.access_token, body.refresh_token, body.id_token]) assert.ok(issued.includes(String(secret)));
  const log = JSON.stringify(await idp.requests());
  assert.ok(issued.every((s) => !log.includes(s)), '/requests never shows a secret');
  const polls = (await idp.requests()).filter((r) => r.endpoint === 'token');
  assert.deepEqual(polls.map((r) => [r.grant_type, r.status, r.error]), [
    ['device_code', 400, 'authorization_pending'],
    ['urn:ietf:params:oauth:grant-type:device_code', 200, undefined],
    ['device_code', 400, 'invalid_grant'],
  ]);
  assert.equal(new Set(polls.map((r) => r.code_id)).size, 1);
  assert.equal(polls[0]?.code_id, pending?.code_id);
});

test('decline, expiry and bad requests: Entra errors on the wire, JSON errors on the control API', async (t) => {
  const idp = await provider(t);
  const dc = await deviceCode(idp);
  const declined = await idp.decline(String(dc.json.user_code));
  assert.equal(declined.status, 'declined');
  assertEntraError(await poll(idp, dc.json.device_code), 400, 'authorization_declined', 70000);
  const again = await idp.control('POST', 'approve', { user_code: dc.json.user_code });
  assert.equal(again.status, 409);
  assert.equal((again.body as { error: string }).error, 'already_decided');

  assert.equal((await idp.control('POST', 'approve', { user_code: 'NOSUCHCODE' })).status, 404);
  assert.equal((await idp.control('POST', 'decline', {})).status, 400);
  assert.equal((await idp.control('POST', 'approve', { user_code: 5 })).status, 400);
  const badJson = await fetch(new URL('approve', idp.controlUrl), { method: 'POST', body: '{nope' });
  assert.equal(badJson.status, 400);
  assert.equal(((await badJson.json()) as { error: string }).error, 'bad_request');
  const other = await deviceCode(idp);
  assert.equal((await idp.control('POST', 'approve', { user_code: other.json.user_code, user: 'mallory' })).status, 400);

  await idp.faults({ device_code_expires_in: 1 });
  const short = await deviceCode(idp);
  assert.equal(short.json.expires_in, 1);
  await sleep(1_100);
  assertEntraError(await poll(idp, short.json.device_code), 400, 'expired_token', 70019);
  assert.ok(!(await idp.pending()).some((c) => c.user_code === short.json.user_code), 'an expired code is not pending');
  assert.equal((await idp.control('POST', 'approve', { user_code: short.json.user_code })).status, 409);

  assertEntraError(await poll(idp, 'no-such-device-code'), 400, 'bad_verification_code', 70018);
  assertEntraError(await poll(idp, other.json.device_code, 'device_code', 'another-client'), 400, 'bad_verification_code', 70018);
  assertEntraError(await poll(idp, 'x', 'password'), 400, 'unsupported_grant_type', 70003);
  assertEntraError(await idp.wire(tenantPath(idp, 'oauth2/v2.0/token'), { form: { grant_type: 'device_code' } }), 400, 'invalid_request', 900144);
  assertEntraError(await deviceCode(idp, CLIENT_ID, ''), 400, 'invalid_request', 900144);
});

test('slow_down: forced, and for polling faster than the interval; the interval grows by 5 s each time', async (t) => {
  const idp = await provider(t);
  const dc = await deviceCode(idp);
  await idp.faults({ slow_down_next: 1 });
  assertEntraError(await poll(idp, dc.json.device_code), 400, 'slow_down', 70016);
  assert.equal((await idp.pending())[0]?.interval, 6);
  assertEntraError(await poll(idp, dc.json.device_code), 400, 'slow_down', 70016);
  assert.equal((await idp.pending())[0]?.interval, 11, 'a poll sooner than 6 s is itself too fast');

  const quick = await deviceCode(idp);
  assertEntraError(await poll(idp, quick.json.device_code), 400, 'authorization_pending', 70016);
  assertEntraError(await poll(idp, quick.json.device_code), 400, 'slow_down', 70016);
  await idp.faults({ enforce_interval: false });
  const relaxed = await deviceCode(idp);
  for (let i = 0; i < 3; i++) assertEntraError(await poll(idp, relaxed.json.device_code), 400, 'authorization_pending', 70016);
  assert.equal((await idp.faults({})).slow_down_next, 0, 'the forced slow_down was used up');
});

test('refresh tokens rotate; reuse, revocation, invalid_grant fault and unknown tokens', async (t) => {
  const idp = await provider(t);
  const first = await signIn(idp);
  const second = await refresh(idp, first.refresh_token);
  assert.equal(second.status, 200, second.text);
  assert.notEqual(second.json.refresh_token, first.refresh_token);
  assert.notEqual(second.json.access_token, first.access_token);
  assert.notEqual(second.json.id_token, first.id_token);
  assert.equal(decodeJwt(String(second.json.id_token)).oid, decodeJwt(String(first.id_token)).oid);
  assert.ok(second.json.client_info);
  assert.equal((await refresh(idp, first.refresh_token)).status, 200, 'like Entra, an earlier refresh token stays valid by default');
  await idp.faults({ reject_reused_refresh_tokens: true });
  assertEntraError(await refresh(idp, first.refresh_token), 400, 'invalid_grant', 70000, 'bad_token');

  await idp.faults({ invalid_grant_next: 1 });
  assertEntraError(await refresh(idp, second.json.refresh_token), 400, 'invalid_grant', 70008, 'bad_token');
  const third = await refresh(idp, second.json.refresh_token);
  assert.equal(third.status, 200, 'invalid_grant_next was used up');

  assertEntraError(await refresh(idp, 'not-a-refresh-token'), 400, 'invalid_grant', 9002313, 'bad_token');
  assertEntraError(await refresh(idp, third.json.refresh_token, 'other-client'), 400, 'invalid_grant', 70000, 'bad_token');

  const revoked = await idp.faults({ revoke_refresh_tokens: true });
  assert.ok((revoked as unknown as { revoked_refresh_tokens: number }).revoked_refresh_tokens >= 1);
  assertEntraError(await refresh(idp, third.json.refresh_token), 400, 'invalid_grant', 50173, 'bad_token');
  const fresh = await signIn(idp);
  assert.equal((await refresh(idp, fresh.refresh_token)).status, 200, 'tokens issued after the revocation work');
  const grants = (await idp.requests()).filter((r) => r.grant_type === 'refresh_token');
  assert.ok(grants.every((r) => /^rt-[0-9a-f]{8}$/.test(r.code_id ?? 'rt-00000000')));
});

test('access tokens per resource: the audience is the resource asked for; a refresh token serves another resource; two resources at once are AADSTS28000', async (t) => {
  const idp = await provider(t);
  const apiScope = `${SCOPE} api://kiosk-api/kiosk.read`;
  const dc = await deviceCode(idp, CLIENT_ID, apiScope);
  assert.equal(dc.status, 200, dc.text);
  await idp.approve(String(dc.json.user_code));
  const signedIn = await idp.wire(tenantPath(idp, 'oauth2/v2.0/token'), {
    form: { client_id: CLIENT_ID, grant_type: 'device_code', device_code: String(dc.json.device_code), scope: apiScope, client_info: '1' },
  });
  assert.equal(signedIn.status, 200, signedIn.text);
  assert.equal(signedIn.json.scope, apiScope);
  const keys = await keySet(idp);
  const audienceOf = async (token: unknown): Promise<unknown> => (await jwtVerify(String(token), keys)).payload.aud;
  assert.equal(await audienceOf(signedIn.json.access_token), 'api://kiosk-api');

  const forResource = (scope: string) =>
    idp.wire(tenantPath(idp, 'oauth2/v2.0/token'), {
      form: { client_id: CLIENT_ID, grant_type: 'refresh_token', refresh_token: String(signedIn.json.refresh_token), scope, client_info: '1' },
    });
  const graph = await forResource(`https://graph.microsoft.com/.default ${SCOPE}`);
  assert.equal(graph.status, 200, graph.text);
  assert.equal(await audienceOf(graph.json.access_token), 'https://graph.microsoft.com');
  assert.equal(graph.json.scope, `https://graph.microsoft.com/.default ${SCOPE}`);
  const other = await forResource(`api://other-api/.default ${SCOPE}`);
  assert.equal(await audienceOf(other.json.access_token), 'api://other-api');
  assert.equal(await audienceOf((await forResource(SCOPE)).json.access_token), '00000003-0000-0000-c000-000000000000', 'OIDC scopes alone: Microsoft Graph');
  const tokens = [signedIn, graph, other].map((r) => String(r.json.access_token));
  assert.equal(new Set(tokens).size, 3);
  const issued = await idp.issued();
  for (const token of tokens) assert.ok(issued.includes(token), 'every access token is listed in /issued');

  const mixed = `api://kiosk-api/kiosk.read https://graph.microsoft.com/User.Read ${SCOPE}`;
  const refused = await forResource(mixed);
  assertEntraError(refused, 400, 'invalid_scope', 28000);
  assert.match(String(refused.json.error_description), /contains more than one resource/);
  assertEntraError(await deviceCode(idp, CLIENT_ID, mixed), 400, 'invalid_scope', 28000);
  assertEntraError(await deviceCode(idp, CLIENT_ID, `User.Read api://kiosk-api/kiosk.read ${SCOPE}`), 400, 'invalid_scope', 28000);
});

test('wire faults: 5xx for some endpoints, hang, dropped connection, delay', async (t) => {
  const idp = await provider(t);
  const metadata = tenantPath(idp, 'v2.0/.well-known/openid-configuration');
  await idp.faults({ fail_next: 2, fail_status: 503, fail_endpoints: ['token'] });
  assert.equal((await idp.wire(metadata)).status, 200, 'metadata is not in fail_endpoints');
  assertEntraError(await poll(idp, 'x'), 503, 'server_error', 50000);
  assertEntraError(await poll(idp, 'x'), 503, 'server_error', 50000);
  assert.equal((await poll(idp, 'x')).json.error, 'bad_verification_code', 'fail_next was used up');

  await idp.faults({ hang_next: 1, hang_endpoints: ['metadata'] });
  const hung = idp.wire(metadata);
  const outcome = await Promise.race([hung.then(() => 'answered', () => 'failed'), sleep(700).then(() => 'hung')]);
  assert.equal(outcome, 'hung');
  assert.equal((await idp.wire(metadata)).status, 200, 'only one request hangs');

  await idp.faults({ drop_next: 1 });
  await assert.rejects(idp.wire(metadata), /socket hang up|ECONNRESET/);
  assert.equal((await idp.wire(metadata)).status, 200);

  await idp.faults({ delay_ms: 300 });
  const started = Date.now();
  assert.equal((await idp.wire(metadata)).status, 200);
  assert.ok(Date.now() - started >= 290, 'the response was delayed');

  const faulted = (await idp.requests()).filter((r) => r.fault);
  assert.deepEqual(faulted.map((r) => [r.endpoint, r.fault, r.status]), [
    ['token', 'fail', 503],
    ['token', 'fail', 503],
    ['metadata', 'hang', 0],
    ['metadata', 'drop', 0],
  ]);
  await idp.close(); // also ends the hung request
  await assert.rejects(hung);
});

test('faults: validation, GET shows them, DELETE restores the defaults, reset clears requests', async (t) => {
  const idp = await provider(t, { accessTokenExpiresIn: 120, delayMs: 5 });
  assert.equal(((await idp.control('GET', 'faults')).body as { delay_ms: number }).delay_ms, 5, 'the delayMs option is delay_ms from the start');
  const bad = await idp.control('POST', 'faults', { fail_nxt: 1, delay_ms: -5, fail_endpoints: ['verify'], id_token_fault: 'weird' });
  assert.equal(bad.status, 400);
  const message = (bad.body as { message: string }).message;
  for (const key of ['fail_nxt', 'delay_ms', 'fail_endpoints', 'id_token_fault']) assert.match(message, new RegExp(key));
  assert.equal((await idp.control('POST', 'faults', [1])).status, 400);

  const set = await idp.faults({ access_token_expires_in: 60, device_code_interval: 2, issuer: 'https://example.test/x/v2.0' });
  assert.equal(set.access_token_expires_in, 60);
  const shown = (await idp.control('GET', 'faults')).body as Record<string, unknown>;
  assert.equal(shown.device_code_interval, 2);
  assert.equal(shown.issuer, 'https://example.test/x/v2.0');
  const cleared = await idp.clearFaults();
  assert.equal(cleared.access_token_expires_in, 120, 'back to the startIdp option');
  assert.equal(cleared.device_code_interval, 1);
  assert.equal(cleared.issuer, null);
  assert.equal(cleared.delay_ms, 5, 'DELETE keeps the delayMs option');

  await idp.wire('/');
  assert.ok((await idp.requests()).length > 0);
  await idp.faults({ fail_next: 3 });
  assert.equal((await idp.control('POST', 'reset')).status, 200);
  assert.deepEqual(await idp.requests(), []);
  assert.equal((await idp.control('GET', 'faults')).body && ((await idp.control('GET', 'faults')).body as { fail_next: number }).fail_next, 0);
  assert.equal((await idp.control('GET', 'nope')).status, 404);
});

test('client registration faults: unknown application and public client flows disabled', async (t) => {
  const idp = await provider(t);
  await idp.faults({ unknown_clients: ['ghost'], public_client_disabled_clients: ['confidential'] });
  const unknown = await deviceCode(idp, 'ghost');
  assertEntraError(unknown, 400, 'unauthorized_client', 700016);
  assert.match(String(unknown.json.error_description), /Application with identifier 'ghost' was not found/);
  assertEntraError(await poll(idp, 'x', 'device_code', 'ghost'), 400, 'unauthorized_client', 700016);

  const dc = await deviceCode(idp, 'confidential');
  assert.equal(dc.status, 200, 'the device code is issued; the token endpoint refuses');
  assertEntraError(await poll(idp, dc.json.device_code, 'device_code', 'confidential'), 401, 'invalid_client', 7000218);
  assert.equal((await deviceCode(idp)).status, 200, 'other clients are unaffected');
});

test('ID token faults: forged, expired and wrong-audience tokens fail verification; the normal one passes', async (t) => {
  const idp = await provider(t);
  const keys = await keySet(idp);
  const issuer = `${idp.origin}/${idp.tenantId}/v2.0`;
  const verify = (token: unknown) => jwtVerify(String(token), keys, { issuer, audience: CLIENT_ID });
  const good = await signIn(idp);
  await verify(good.id_token);

  await idp.faults({ id_token_fault: 'forged' });
  const forged = String((await signIn(idp)).id_token);
  assert.equal(decodeProtectedHeader(forged).kid, decodeProtectedHeader(String(good.id_token)).kid, 'it names the real kid');
  await assert.rejects(verify(forged), joseErrors.JWSSignatureVerificationFailed);

  await idp.faults({ id_token_fault: 'expired' });
  await assert.rejects(verify((await signIn(idp)).id_token), joseErrors.JWTExpired);

  await idp.faults({ id_token_fault: 'wrong_audience' });
  const wrong = (await signIn(idp)).id_token;
  await assert.rejects(verify(wrong), (e: unknown) => e instanceof joseErrors.JWTClaimValidationFailed && e.claim === 'aud');
});

test('issuer override (External ID tenant-id host) and access-token lifetime', async (t) => {
  const idp = await provider(t);
  const issuer = `https://${idp.tenantId}.ciamlogin.com/${idp.tenantId}/v2.0`;
  await idp.faults({ issuer, access_token_expires_in: 60 });
  const metadata = await idp.wire(tenantPath(idp, 'v2.0/.well-known/openid-configuration'));
  assert.equal(metadata.json.issuer, issuer);
  assert.equal(metadata.json.token_endpoint, `${idp.origin}/${idp.tenantId}/oauth2/v2.0/token`, 'endpoints stay local');
  const tokens = await signIn(idp);
  assert.equal(tokens.expires_in, 60);
  const { payload } = await jwtVerify(String(tokens.id_token), await keySet(idp), { issuer, audience: CLIENT_ID });
  assert.equal(payload.iss, issuer);
  const access = decodeJwt(String(tokens.access_token));
  assert.equal((access.exp ?? 0) - (access.iat ?? 0), 60);
});

test('a tenant alias (e.g. contoso.onmicrosoft.com) works on every endpoint; endpoints name the tenant id', async (t) => {
  const idp = await provider(t, { tenantAliases: ['Contoso.onmicrosoft.com'] });
  const metadata = await idp.wire('/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration');
  assert.equal(metadata.status, 200);
  assert.equal(metadata.json.authorization_endpoint, `${idp.origin}/${idp.tenantId}/oauth2/v2.0/authorize`, 'like Entra: resolved to the id');
  const dc = await idp.wire('/contoso.onmicrosoft.com/oauth2/v2.0/devicecode', { form: { client_id: CLIENT_ID, scope: SCOPE } });
  await idp.approve(String(dc.json.user_code));
  const token = await idp.wire('/contoso.onmicrosoft.com/oauth2/v2.0/token', {
    form: { client_id: CLIENT_ID, grant_type: 'device_code', device_code: String(dc.json.device_code), scope: SCOPE },
  });
  assert.equal(token.status, 200, token.text);
  assert.equal(decodeJwt(String(token.json.id_token)).tid, idp.tenantId);
  assertEntraError(await idp.wire('/fabrikam.onmicrosoft.com/discovery/v2.0/keys'), 400, 'invalid_tenant', 90002);
});

test('the origin follows a Host header the certificate names', async (t) => {
  const idp = await provider(t);
  const path = tenantPath(idp, 'v2.0/.well-known/openid-configuration');
  const viaLocalhost = await idp.wire(path, { headers: { host: `localhost:${idp.port}` } });
  assert.equal(viaLocalhost.json.issuer, `https://localhost:${idp.port}/${idp.tenantId}/v2.0`);
  const spoofed = await idp.wire(path, { headers: { host: 'evil.example:1' }, servername: 'localhost' });
  assert.equal(spoofed.json.issuer, `${idp.origin}/${idp.tenantId}/v2.0`, 'an unknown Host falls back to the advertised origin');
});

test('verification page: accessible form, escaped input, approve and decline by form POST', async (t) => {
  const idp = await provider(t);
  const dc = await deviceCode(idp);
  const page = await idp.wire(`${idp.verificationUri}?user_code=${String(dc.json.user_code)}`);
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-type']), /text\/html/);
  assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
  assert.match(page.text, /<html lang="en">/);
  assert.match(page.text, new RegExp(`<label for="user_code">[^<]+</label>\\s*<input type="text" id="user_code" name="user_code" value="${String(dc.json.user_code)}"`));
  assert.match(page.text, /<legend>Sign in as<\/legend>/);
  for (const name of ['Alice Example', 'Bob Example']) assert.ok(page.text.includes(name));
  assert.match(page.text, /<button type="submit" name="action" value="approve">/);
  assert.match(page.text, /<button type="submit" name="action" value="decline">/);

  const hostile = await idp.wire(`/device?user_code=${encodeURIComponent('"><script>alert(1)</script>')}`);
  assert.ok(!hostile.text.includes('<script>'), 'echoed input is escaped');
  assert.ok(hostile.text.includes('&quot;&gt;&lt;script&gt;'));

  const approve = await idp.wire('/device', { form: { user_code: String(dc.json.user_code), user: 'bob', action: 'approve' } });
  assert.equal(approve.status, 200);
  assert.match(approve.text, /signed in as Bob Example/);
  const tokens = await poll(idp, dc.json.device_code);
  assert.equal(decodeJwt(String(tokens.json.id_token)).name, 'Bob Example');

  const other = await deviceCode(idp);
  const decline = await idp.wire('/device', { form: { user_code: String(other.json.user_code), action: 'decline' } });
  assert.match(decline.text, /declined/);
  assert.equal((await poll(idp, other.json.device_code)).json.error, 'authorization_declined');

  const unknown = await idp.wire('/device', { form: { user_code: '<b>NOPE</b>', user: 'alice', action: 'approve' } });
  assert.equal(unknown.status, 404);
  assert.match(unknown.text, /role="alert"/);
  assert.ok(!unknown.text.includes('<b>NOPE</b>'));
  assert.equal((await idp.wire('/device', { form: { user_code: 'X' } })).status, 400);
});

test('restart on the same dir and port keeps CA, signing key, tenant and refresh tokens', async (t) => {
  const idp = await provider(t);
  const ca = readFileSync(idp.caFile, 'utf8');
  const tokens = await signIn(idp);
  const kid = decodeProtectedHeader(String(tokens.id_token)).kid;
  await idp.restart();
  assert.equal(readFileSync(idp.caFile, 'utf8'), ca);
  const metadata = await idp.wire(tenantPath(idp, 'v2.0/.well-known/openid-configuration'));
  assert.equal(metadata.status, 200, 'same tenant, same port, certificate still trusted');
  await jwtVerify(String(tokens.id_token), await keySet(idp), { audience: CLIENT_ID });
  const refreshed = await refresh(idp, tokens.refresh_token);
  assert.equal(refreshed.status, 200, refreshed.text);
  assert.equal(decodeProtectedHeader(String(refreshed.json.id_token)).kid, kid);
  const issued = await idp.issued();
  assert.ok(issued.includes(String(tokens.refresh_token)) && issued.includes(String(refreshed.json.refresh_token)), 'issued() spans restarts');
});

test('certificates: a CA, a server certificate for 127.0.0.1, localhost and extra hostnames, reissued by the same CA', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-idp-pki-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const first = await startIdp({ dir });
  await first.close();
  const ca = new X509Certificate(readFileSync(first.caFile));
  const server1 = new X509Certificate(readFileSync(join(dir, 'server.pem')));
  assert.ok(ca.ca);
  assert.ok(server1.verify(ca.publicKey));
  assert.match(String(server1.subjectAltName), /IP Address:127\.0\.0\.1/);
  assert.match(String(server1.subjectAltName), /DNS:localhost/);

  const second = await startIdp({ dir, hostnames: ['idp.kiosk.test'] });
  await second.close();
  assert.equal(second.tenantId, first.tenantId);
  assert.match(second.authority, /^https:\/\/idp\.kiosk\.test:\d+\//, 'the first hostname is advertised');
  const server2 = new X509Certificate(readFileSync(join(dir, 'server.pem')));
  assert.match(String(server2.subjectAltName), /DNS:idp\.kiosk\.test/);
  assert.ok(server2.verify(ca.publicKey));
  assert.equal(new X509Certificate(readFileSync(second.caFile)).fingerprint256, ca.fingerprint256);
});

test('CLI: one JSON ready line on stdout, clean exit on SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-idp-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/idp/main.ts', '--port', '0', '--control-port', '0', '--dir', dir], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', resolve);
    child.once('exit', () => reject(new Error('the CLI exited before it was ready')));
  });
  const ready = JSON.parse(line) as Record<string, string>;
  assert.deepEqual(Object.keys(ready), ['authority', 'ca_file', 'verification_uri', 'control_url']);
  assert.ok(existsSync(String(ready.ca_file)));
  assert.equal(ready.ca_file, join(dir, 'ca.pem'));
  const pending = await fetch(new URL('pending', ready.control_url));
  assert.deepEqual(await pending.json(), []);
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.equal(stdout, `${line}\n`, 'nothing else on stdout');
});

const runMsal = (t: TestContext, idp: TestIdp, authority: string, onCode: (event: Record<string, unknown>) => Promise<void>) =>
  runMsalDeviceCode(t, idp, authority, CLIENT_ID, onCode);

test('real @azure/msal-node refuses a tenant-id ciamlogin issuer for a named-tenant authority, as with External ID', async (t) => {
  const idp = await provider(t, { tenantAliases: ['contoso.onmicrosoft.com'] });
  await idp.faults({ issuer: `https://${idp.tenantId}.ciamlogin.com/${idp.tenantId}/v2.0` });
  const run = await runMsal(t, idp, `${idp.origin}/contoso.onmicrosoft.com/`, async () => assert.fail('no device code expected'));
  assert.equal(run.code, 1, run.stderr);
  assert.equal(run.events.error?.errorCode, 'endpoints_resolution_error');
  assert.deepEqual((await idp.requests()).map((r) => `${r.endpoint}:${r.status}`), ['metadata:200'], 'discovery answered; MSAL refused the issuer');
});

test('real @azure/msal-node: device code sign-in then acquireTokenSilent(forceRefresh) in a child trusting the CA', async (t) => {
  const idp = await provider(t);
  const { code, events, stderr } = await runMsal(t, idp, idp.authority, async (event) => {
    const [pending] = await idp.waitForPending();
    assert.equal(pending?.user_code, event.user_code);
    await idp.approve(String(event.user_code), 'carol');
  });
  assert.equal(code, 0, `${JSON.stringify(events.error)} ${stderr}`);
  assert.equal(events.code?.interval, 1);
  assert.equal(events.code?.verification_uri, idp.verificationUri);
  const carol = ((await idp.control('GET', 'users')).body as { id: string; oid: string }[]).find((u) => u.id === 'carol');
  for (const step of ['signed_in', 'refreshed']) {
    const result = events[step] as { account: Record<string, string>; claims: Record<string, unknown>; fromCache: boolean };
    assert.equal(result.account.homeAccountId, `${carol?.oid}.${idp.tenantId}`, `${step}: homeAccountId from client_info`);
    assert.equal(result.account.username, 'carol@example.test');
    assert.equal(result.account.tenantId, idp.tenantId);
    assert.equal(result.claims.aud, CLIENT_ID);
    assert.equal(result.fromCache, false);
  }
  assert.notEqual(events.refreshed?.idTokenHash, events.signed_in?.idTokenHash, 'the refresh returned a new ID token');
  const calls = (await idp.requests()).map((r) => `${r.endpoint}:${r.grant_type ?? ''}:${r.status}`);
  assert.equal(calls[0], 'metadata::200');
  assert.equal(calls[1], 'devicecode::200');
  assert.ok(calls.includes('token:device_code:200'), calls.join(' '));
  assert.equal(calls.at(-1), 'token:refresh_token:200');
});

test('--public-host: the verification page (and so the QR) names the host phones reach, with TLS verified; the authority stays', async (t) => {
  const idp = await startTestIdp({ publicHost: 'kiosk-lab.local' });
  t.after(() => idp.close());
  assert.match(idp.authority, /^https:\/\/127\.0\.0\.1:\d+\//, 'the agent keeps its authority');
  const answer = await idp.wire('oauth2/v2.0/devicecode', { form: { client_id: 'kiosk-test', scope: 'openid offline_access' } });
  assert.equal(answer.status, 200, answer.text);
  const uri = String(answer.json.verification_uri);
  assert.equal(uri, `https://kiosk-lab.local:${new URL(idp.authority).port}/device`);
  assert.equal(answer.json.verification_uri_complete, `${uri}?user_code=${String(answer.json.user_code)}`);
  // A phone opening it: name resolution sends kiosk-lab.local to this provider; the certificate names it.
  const page = await wire(uri, readFileSync(idp.caFile, 'utf8'), { connectTo: `127.0.0.1:${new URL(idp.authority).port}` });
  assert.equal(page.status, 200);
  assert.match(page.text, /<form/);
  await assert.rejects(startIdp({ dir: join(tmpdir(), 'never-made'), publicHost: 'not a host' }), /not a host name or IP address/);
});
