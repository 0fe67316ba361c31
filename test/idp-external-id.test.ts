import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { startTestIdp } from './helpers/idp.js';
import type { TestIdp, WireResponse } from './helpers/idp.js';

const CLIENT_ID = 'external-id-test-client';
const SCOPE = 'openid profile offline_access';
const GLOBAL_PAGE = 'https://microsoft.com/devicelogin';
const REFUSAL = 'AADSTS500208: The domain is not a valid login domain for the account type.';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function provider(t: TestContext, options: Parameters<typeof startTestIdp>[0] = {}): Promise<TestIdp> {
  const idp = await startTestIdp({ deviceCodeInterval: 1, externalId: true, ...options });
  t.after(() => idp.close());
  // Polls in these tests follow each other at once: the interval rule is tested in idp.test.ts.
  await idp.faults({ enforce_interval: false });
  return idp;
}

const deviceCode = (idp: TestIdp) =>
  idp.wire(`/${idp.tenantId}/oauth2/v2.0/devicecode`, { form: { client_id: CLIENT_ID, scope: SCOPE } });
const poll = (idp: TestIdp, code: unknown) =>
  idp.wire(`/${idp.tenantId}/oauth2/v2.0/token`, {
    form: { client_id: CLIENT_ID, grant_type: 'device_code', device_code: String(code), scope: SCOPE, client_info: '1' },
  });
const refresh = (idp: TestIdp, token: unknown) =>
  idp.wire(`/${idp.tenantId}/oauth2/v2.0/token`, {
    form: { client_id: CLIENT_ID, grant_type: 'refresh_token', refresh_token: String(token), scope: SCOPE, client_info: '1' },
  });

async function newCode(idp: TestIdp): Promise<{ userCode: string; deviceCode: string }> {
  const dc = await deviceCode(idp);
  assert.equal(dc.status, 200, dc.text);
  return { userCode: String(dc.json.user_code), deviceCode: String(dc.json.device_code) };
}

async function signIn(idp: TestIdp, user = 'alice'): Promise<Record<string, unknown>> {
  const { userCode, deviceCode: code } = await newCode(idp);
  await idp.approve(userCode, user);
  const res = await poll(idp, code);
  assert.equal(res.status, 200, res.text);
  return res.json;
}

/** Asserts an Entra-shaped error body and returns the AADSTS message (the description's first line). */
function entraError(res: WireResponse, status: number, error: string, code: number, suberror?: string): string {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error, error);
  assert.deepEqual(res.json.error_codes, [code]);
  assert.equal(res.json.suberror, suberror);
  const [first] = String(res.json.error_description).split('\r\n');
  assert.match(String(res.json.error_description), /\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [\w-]+\r\nTimestamp: /);
  assert.ok(first?.startsWith(`AADSTS${code}: `), first);
  return first ?? '';
}

test('External ID device-code answer: the global page, no verification_uri_complete, Entra wording', async (t) => {
  const idp = await provider(t);
  assert.equal(idp.verificationUri, GLOBAL_PAGE);
  assert.equal(idp.tenantVerificationUri, `${idp.origin}/common/oauth2/deviceauth`);
  const dc = await deviceCode(idp);
  assert.equal(dc.status, 200, dc.text);
  const { user_code, verification_uri, message } = dc.json;
  assert.equal(verification_uri, GLOBAL_PAGE);
  assert.ok(!('verification_uri_complete' in dc.json), 'Entra gives none for the global page');
  assert.equal(message, `To sign in, use a web browser to open the page ${GLOBAL_PAGE} and enter the code ${String(user_code)} to authenticate.`);
  const [pending] = await idp.pending();
  assert.equal(pending?.verification_uri, GLOBAL_PAGE);
  assert.ok(pending !== undefined && !('verification_uri_complete' in pending));

  const custom = await provider(t, { globalVerificationUri: 'https://127.0.0.1:1/devicelogin' });
  assert.equal((await deviceCode(custom)).json.verification_uri, 'https://127.0.0.1:1/devicelogin');
  await assert.rejects(startTestIdp({ globalVerificationUri: GLOBAL_PAGE }), /applies only in External ID mode/);
  await assert.rejects(startTestIdp({ externalId: true, verificationUri: 'https://x.test/device' }), /use globalVerificationUri/);
  await assert.rejects(startTestIdp({ externalId: true, globalVerificationUri: 'http://microsoft.com/devicelogin' }), /not an absolute https URL/);
});

test('the tenant page accepts the tenant’s accounts: approve, then the poll gets tokens; decline works too', async (t) => {
  const idp = await provider(t);
  const { userCode, deviceCode: code } = await newCode(idp);
  const form = await idp.wire(`${idp.tenantVerificationUri}?user_code=${userCode}`);
  assert.equal(form.status, 200);
  assert.match(form.text, /<form method="post" action="\/common\/oauth2\/deviceauth">/);
  assert.match(form.text, /name="user_code" value=""/, 'like Entra, the page takes no code from the URL');

  const approved = await idp.submitVerificationPage(idp.tenantVerificationUri, userCode.toLowerCase(), 'bob');
  assert.equal(approved.status, 200, approved.text);
  assert.equal(approved.action, idp.tenantVerificationUri);
  assert.match(approved.text, /signed in as Bob Example/);
  const tokens = await poll(idp, code);
  assert.equal(tokens.status, 200, tokens.text);
  assert.equal(decodeJwt(String(tokens.json.id_token)).name, 'Bob Example');

  const other = await newCode(idp);
  const declined = await idp.submitVerificationPage(idp.tenantVerificationUri, other.userCode, 'alice', { action: 'decline' });
  assert.match(declined.text, /declined/);
  assert.equal((await poll(idp, other.deviceCode)).json.error, 'authorization_declined');
  const log = (await idp.requests()).filter((r) => r.endpoint === 'verify' && r.method === 'POST');
  assert.equal(log.length, 2);
  assert.ok(log.every((r) => r.status === 200 && r.error === undefined && /^dc-/.test(r.code_id ?? '')));
  assert.equal((await idp.wire('/')).headers.location, '/common/oauth2/deviceauth', 'the root leads to the tenant page');
});

test('the global page (SNI microsoft.com, TLS verified) refuses with AADSTS500208 and the code stays pending', async (t) => {
  const idp = await provider(t);
  const { userCode, deviceCode: code } = await newCode(idp);
  const refused = await idp.submitVerificationPage(GLOBAL_PAGE, userCode, 'alice');
  assert.equal(refused.status, 403);
  assert.equal(refused.action, GLOBAL_PAGE);
  assert.match(refused.text, /role="alert">AADSTS500208: The domain is not a valid login domain for the account type\.</);
  assert.ok(refused.text.includes(idp.tenantVerificationUri), 'the stand-in tells a person where this tenant signs in');
  entraError(await poll(idp, code), 400, 'authorization_pending', 70016);
  assert.deepEqual((await idp.pending()).map((c) => c.user_code), [userCode]);
  const [entry] = (await idp.requests()).filter((r) => r.endpoint === 'verify' && r.method === 'POST');
  assert.equal(entry?.path, '/devicelogin');
  assert.equal(entry?.status, 403);
  assert.equal(entry?.error, 'AADSTS500208');
  assert.equal(entry?.code_id, (await idp.pending())[0]?.code_id);

  assert.equal((await idp.submitVerificationPage(GLOBAL_PAGE, userCode, 'carol', { action: 'decline' })).status, 403, 'one signs in before one can decline');
  await assert.rejects(idp.wire('https://microsoft.example/devicelogin'), /altnames|certificate/i, 'a name the certificate lacks fails TLS');
  assert.equal((await idp.submitVerificationPage(idp.tenantVerificationUri, userCode, 'alice')).status, 200, 'the tenant page still takes the code');
  assert.equal((await poll(idp, code)).status, 200);
});

test('outside External ID mode the global stand-in accepts, as Entra does for a workforce tenant', async (t) => {
  const idp = await provider(t, { externalId: false });
  assert.equal(idp.verificationUri, `${idp.origin}/device`);
  const { userCode, deviceCode: code } = await newCode(idp);
  assert.equal((await idp.submitVerificationPage(`${idp.origin}/devicelogin`, userCode, 'alice')).status, 200);
  assert.equal((await poll(idp, code)).status, 200);
  const other = await newCode(idp);
  assert.equal((await idp.submitVerificationPage(`${idp.origin}/common/oauth2/deviceauth`, other.userCode, 'alice')).status, 200);
  assert.equal((await idp.approve((await newCode(idp)).userCode, 'bob', 'global')).status, 'approved');
});

test('POST /approve with page "global" is refused like the page; "tenant" approves; other pages are a 400', async (t) => {
  const idp = await provider(t);
  const { userCode, deviceCode: code } = await newCode(idp);
  const refused = await idp.control('POST', 'approve', { user_code: userCode, user: 'bob', page: 'global' });
  assert.equal(refused.status, 403);
  const body = refused.body as { error: string; message: string };
  assert.equal(body.error, 'AADSTS500208');
  assert.ok(body.message.startsWith(REFUSAL), body.message);
  assert.deepEqual((await idp.pending()).map((c) => c.user_code), [userCode]);
  entraError(await poll(idp, code), 400, 'authorization_pending', 70016);
  const entry = (await idp.requests()).find((r) => r.endpoint === 'verify');
  assert.deepEqual([entry?.status, entry?.error, entry?.code_id], [403, 'AADSTS500208', (await idp.pending())[0]?.code_id]);
  await assert.rejects(idp.approve(userCode, 'bob', 'global'), /403/);

  assert.equal((await idp.control('POST', 'approve', { user_code: userCode, page: 'elsewhere' })).status, 400);
  assert.equal((await idp.control('POST', 'approve', { user_code: 'NOSUCHCODE', page: 'global' })).status, 404, 'the code is checked first');
  assert.equal((await idp.approve(userCode, 'bob', 'tenant')).status, 'approved');
  assert.equal((await poll(idp, code)).status, 200);
});

const BLOCKS = [
  [53003, 'invalid_grant', /^Access has been blocked by Conditional Access policies\. The access policy does not allow token issuance\.$/],
  [530033, 'invalid_grant', /^Access has been blocked by Conditional Access policies\. .*device/],
  [53000, 'interaction_required', /^Device is not in required device state: compliant\./],
  [53001, 'interaction_required', /^Device is not in required device state: domain_joined\./],
  [50097, 'interaction_required', /^Device authentication is required\.$/],
] as const;

test('conditional_access: every code blocks the poll after approval (for good) and the refresh grant', async (t) => {
  const idp = await provider(t);
  const before = await signIn(idp);
  for (const [code, error, wording] of BLOCKS) {
    await idp.faults({ conditional_access: code });
    const { userCode, deviceCode: device } = await newCode(idp);
    entraError(await poll(idp, device), 400, 'authorization_pending', 70016);
    await idp.approve(userCode, 'carol');
    const blocked = entraError(await poll(idp, device), 400, error, code, 'message_only');
    assert.match(blocked.slice(`AADSTS${code}: `.length), wording);
    entraError(await refresh(idp, before.refresh_token), 400, error, code, 'message_only');
    await idp.clearFaults();
    await idp.faults({ enforce_interval: false });
    entraError(await poll(idp, device), 400, error, code, 'message_only');
    assert.equal((await refresh(idp, before.refresh_token)).status, 200, `${code}: the refresh token survives the block`);
  }
  const blockedPolls = (await idp.requests()).filter((r) => r.endpoint === 'token' && r.grant_type === 'device_code' && r.status === 400);
  assert.equal(blockedPolls.filter((r) => r.error !== 'authorization_pending').length, BLOCKS.length * 2);
  assert.equal((await idp.control('POST', 'faults', { conditional_access: 53004 })).status, 400);
  assert.equal((await idp.control('POST', 'faults', { conditional_access: '53003' })).status, 400);
  assert.equal((await idp.faults({ conditional_access: null })).conditional_access, null);
});

test('invalid_grant_aadsts: invalid_grant_next answers with 70008, 700082, 70043 or 50173 in Entra’s words', async (t) => {
  const idp = await provider(t);
  const first = await signIn(idp);
  assert.equal((await idp.faults({})).invalid_grant_aadsts, 70008, 'the default');
  const issued = new Date(Number(decodeJwt(String(first.id_token)).iat) * 1000).toISOString().slice(0, 19);
  const wording: Record<number, RegExp> = {
    70008: /^The provided authorization code or refresh token has expired due to inactivity\./,
    700082: new RegExp(`^The refresh token has expired due to inactivity\\. The token was issued on ${issued}\\.\\d{7}Z and was inactive for 90\\.00:00:00\\.$`),
    70043: new RegExp(`^The refresh token has expired or is invalid due to sign-in frequency checks by conditional access\\. The token was issued on ${issued}\\.\\d{7}Z and the maximum allowed lifetime for this request is \\d+\\.$`),
    50173: /^The provided grant has expired due to it being revoked, a fresh auth token is needed\./,
  };
  for (const code of [70008, 700082, 70043, 50173] as const) {
    await idp.faults({ invalid_grant_next: 1, invalid_grant_aadsts: code });
    const message = entraError(await refresh(idp, first.refresh_token), 400, 'invalid_grant', code, 'bad_token');
    assert.match(message.slice(`AADSTS${code}: `.length), wording[code] ?? /never/);
    assert.equal((await refresh(idp, first.refresh_token)).status, 200, 'one use, then refresh works again');
  }
  const bad = await idp.control('POST', 'faults', { invalid_grant_aadsts: 70009 });
  assert.equal(bad.status, 400);
  assert.match((bad.body as { message: string }).message, /invalid_grant_aadsts: must be one of the numbers 70008, 700082, 70043, 50173/);
  assert.equal((await idp.clearFaults()).invalid_grant_aadsts, 70008);
});

test('id_token_fault foreign_tenant: well-signed ID tokens, iss unchanged, tid of another tenant stable for the run', async (t) => {
  const idp = await provider(t);
  const keys = createLocalJWKSet((await idp.wire(`/${idp.tenantId}/discovery/v2.0/keys`)).json as unknown as JSONWebKeySet);
  const issuer = `${idp.origin}/${idp.tenantId}/v2.0`;
  await idp.faults({ id_token_fault: 'foreign_tenant' });
  const first = await signIn(idp);
  const { payload } = await jwtVerify(String(first.id_token), keys, { issuer, audience: CLIENT_ID });
  assert.match(String(payload.tid), GUID);
  assert.notEqual(payload.tid, idp.tenantId);
  const again = await refresh(idp, first.refresh_token);
  assert.equal(decodeJwt(String(again.json.id_token)).tid, payload.tid, 'the same foreign tenant for the run');
  assert.equal(decodeJwt(String(first.access_token)).tid, idp.tenantId, 'only the ID token is affected');
  await idp.clearFaults();
  assert.equal(decodeJwt(String((await signIn(idp)).id_token)).tid, idp.tenantId);
});
