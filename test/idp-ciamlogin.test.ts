/**
 * The provider as an External ID tenant is reached in production: `https://contoso.ciamlogin.com/` and
 * `https://microsoft.com/devicelogin` on port 443, both names resolving to the provider's address (a
 * random 127.x.y.z). Binding port 443 needs root; real MSAL resolves the names through an `/etc/hosts`
 * of its own in a private mount namespace.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { decodeJwt } from 'jose';
import { canMountNamespace, privateHosts, runMsalDeviceCode, startTestIdp } from './helpers/idp.js';
import type { TestIdp } from './helpers/idp.js';

const CLIENT_ID = 'ciamlogin-test-client';
const SCOPE = 'openid profile offline_access';
const AUTHORITY_HOST = 'contoso.ciamlogin.com';
const GLOBAL_PAGE = 'https://microsoft.com/devicelogin';
const ROOT = new URL('..', import.meta.url).pathname;
const asRoot = process.getuid?.() === 0;
const needsRoot = !asRoot && 'binding port 443 needs root';

/** A random loopback address outside 127.0.0.x, so that port 443 on it is free. */
const loopbackAddress = (): string => `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;

async function contoso(t: TestContext): Promise<TestIdp> {
  const idp = await startTestIdp({
    host: loopbackAddress(),
    port: 443,
    hostnames: [AUTHORITY_HOST], // External ID mode adds the global page's host (microsoft.com) to the certificate
    tenantAliases: ['contoso.onmicrosoft.com'],
    externalId: true,
    deviceCodeInterval: 1,
  });
  t.after(() => idp.close());
  return idp;
}

/** Every URL in a JSON document, however deep. */
const urlsIn = (value: unknown): string[] =>
  typeof value === 'string' ? (/^https?:\/\//.test(value) ? [value] : []) : typeof value === 'object' && value !== null ? Object.values(value).flatMap(urlsIn) : [];

test('on 127.x.y.z:443 as contoso.ciamlogin.com: every advertised URL omits :443; both pages work by name', { skip: needsRoot }, async (t) => {
  const idp = await contoso(t);
  assert.equal(idp.port, 443);
  assert.equal(idp.authority, `https://${AUTHORITY_HOST}/${idp.tenantId}/`);
  assert.equal(idp.origin, `https://${AUTHORITY_HOST}`);
  assert.equal(idp.tenantVerificationUri, `https://${AUTHORITY_HOST}/common/oauth2/deviceauth`);
  assert.equal(idp.verificationUri, GLOBAL_PAGE);
  const san = new X509Certificate(readFileSync(join(idp.dir, 'server.pem'))).subjectAltName ?? '';
  for (const name of [`DNS:${AUTHORITY_HOST}`, 'DNS:microsoft.com', `IP Address:${idp.address}`]) assert.ok(san.includes(name), san);

  const metadata = await idp.wire('/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration');
  assert.equal(metadata.status, 200, metadata.text);
  assert.equal(metadata.json.issuer, `https://${AUTHORITY_HOST}/${idp.tenantId}/v2.0`);
  assert.equal(metadata.json.token_endpoint, `https://${AUTHORITY_HOST}/${idp.tenantId}/oauth2/v2.0/token`);
  assert.ok(!metadata.text.includes(':443'), metadata.text);
  const urls = urlsIn(metadata.json);
  assert.ok(urls.length >= 5 && urls.every((u) => u.startsWith(`https://${AUTHORITY_HOST}/`)), urls.join(' '));
  const keys = await idp.wire(String(metadata.json.jwks_uri));
  assert.equal(keys.status, 200);
  assert.ok(!keys.text.includes(':443'));
  const byAddress = await idp.wire(`https://${idp.address}/${idp.tenantId}/v2.0/.well-known/openid-configuration`);
  assert.equal(byAddress.json.issuer, `https://${idp.address}/${idp.tenantId}/v2.0`, 'the origin follows the name used, without :443');

  const dc = await idp.wire('/contoso.onmicrosoft.com/oauth2/v2.0/devicecode', { form: { client_id: CLIENT_ID, scope: SCOPE } });
  assert.equal(dc.json.verification_uri, GLOBAL_PAGE);
  assert.ok(!dc.text.includes(':443'));
  const userCode = String(dc.json.user_code);
  const refused = await idp.submitVerificationPage(GLOBAL_PAGE, userCode, 'alice');
  assert.equal(refused.status, 403);
  assert.match(refused.text, /AADSTS500208/);
  assert.ok(refused.text.includes(`https://${AUTHORITY_HOST}/common/oauth2/deviceauth`) && !refused.text.includes(':443'));
  assert.equal((await idp.submitVerificationPage(idp.tenantVerificationUri, userCode, 'alice')).status, 200);
  const tokens = await idp.wire(`/${idp.tenantId}/oauth2/v2.0/token`, {
    form: { client_id: CLIENT_ID, grant_type: 'device_code', device_code: String(dc.json.device_code), scope: SCOPE },
  });
  assert.equal(tokens.status, 200, tokens.text);
  assert.equal(decodeJwt(String(tokens.json.id_token)).iss, `https://${AUTHORITY_HOST}/${idp.tenantId}/v2.0`);
  const pages = (await idp.requests()).filter((r) => r.endpoint === 'verify').map((r) => `${r.method} ${r.path} ${r.status}`);
  assert.deepEqual(pages, ['GET /devicelogin 200', 'POST /devicelogin 403', 'GET /common/oauth2/deviceauth 200', 'POST /common/oauth2/deviceauth 200']);
});

test('CLI on port 443 with --external-id: the ready line names the first --hostname without :443', { skip: needsRoot }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-idp-cli-443-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const args = ['--port', '443', '--host', loopbackAddress(), '--control-port', '0', '--dir', dir, '--hostname', AUTHORITY_HOST, '--external-id'];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/idp/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', () => reject(new Error(`the CLI exited before it was ready: ${stderr}`)));
  });
  const ready = JSON.parse(line) as Record<string, string>;
  assert.match(String(ready.authority), new RegExp(`^https://${AUTHORITY_HOST.replaceAll('.', '\\.')}/[0-9a-f-]{36}/$`));
  assert.equal(ready.verification_uri, GLOBAL_PAGE);
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.ok(stderr.includes(`they sign in at https://${AUTHORITY_HOST}/common/oauth2/deviceauth`), stderr);
});

const msalSkip = needsRoot || (!canMountNamespace() && 'real MSAL needs a private mount namespace for its /etc/hosts');

test('real @azure/msal-node with authority https://contoso.ciamlogin.com/: discovery accepted, global page refused, tenant page signs in', { skip: msalSkip }, async (t) => {
  const idp = await contoso(t);
  const wrap = await privateHosts(idp.dir, idp.address, [AUTHORITY_HOST, 'microsoft.com']);
  const run = await runMsalDeviceCode(t, idp, `https://${AUTHORITY_HOST}/`, CLIENT_ID, async (event) => {
    assert.equal(event.verification_uri, GLOBAL_PAGE);
    assert.match(String(event.message), new RegExp(`open the page ${GLOBAL_PAGE} and enter the code ${String(event.user_code)}`));
    assert.equal((await idp.submitVerificationPage(GLOBAL_PAGE, String(event.user_code), 'carol')).status, 403);
    assert.equal((await idp.submitVerificationPage(idp.tenantVerificationUri, String(event.user_code), 'carol')).status, 200);
  }, wrap);
  assert.equal(run.code, 0, `${JSON.stringify(run.events.error)} ${run.stderr}`);
  const carol = ((await idp.control('GET', 'users')).body as { id: string; oid: string }[]).find((u) => u.id === 'carol');
  for (const step of ['signed_in', 'refreshed']) {
    const account = run.events[step]?.account as Record<string, string> | undefined;
    assert.equal(account?.homeAccountId, `${carol?.oid}.${idp.tenantId}`, step);
    assert.equal(account?.tenantId, idp.tenantId, step);
  }
  const calls = (await idp.requests()).filter((r) => r.endpoint !== 'verify').map((r) => `${r.endpoint} ${r.path} ${r.status}`);
  assert.equal(calls[0], 'metadata /contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration 200', 'MSAL names the tenant as contoso.onmicrosoft.com');
  assert.ok(calls.includes(`token /${idp.tenantId}/oauth2/v2.0/token 200`), calls.join('\n'));

  await idp.faults({ issuer: `https://${idp.tenantId}.ciamlogin.com/${idp.tenantId}/v2.0` });
  const guid = await runMsalDeviceCode(t, idp, `https://${AUTHORITY_HOST}/`, CLIENT_ID, async () => assert.fail('no device code expected'), wrap);
  assert.equal(guid.events.error?.errorCode, 'endpoints_resolution_error', 'the tenant-id issuer needs KIOSK_KNOWN_AUTHORITIES');

  await idp.clearFaults();
  await idp.faults({ conditional_access: 53003 });
  const blocked = await runMsalDeviceCode(t, idp, `https://${AUTHORITY_HOST}/`, CLIENT_ID, async (event) => {
    await idp.approve(String(event.user_code));
  }, wrap);
  assert.equal(blocked.code, 1);
  // MSAL keeps only the OAuth error string of a failed poll (docs/MSAL-NODE.md): the network client must read the body.
  assert.deepEqual([blocked.events.error?.errorCode, blocked.events.error?.errorMessage], ['post_request_failed', 'invalid_grant']);
  assert.ok(!JSON.stringify(blocked.events.error).includes('53003'), 'MSAL drops the AADSTS code: only the wire body has it');
});
