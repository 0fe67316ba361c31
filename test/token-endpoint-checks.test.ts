import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { normalizeResource, resourceOfScope, scopesFor } from '../src/resources.js';
import { checkRequest, hostRule } from '../src/token-endpoint/checks.js';
import type { CheckContext, RequestLike } from '../src/token-endpoint/checks.js';
import { HeaderSecret, IDENTITY_HEADER_FILE } from '../src/token-endpoint/secret.js';

test('resources: one spelling for the forms clients send; scopes belong to their resource; OIDC scopes never are one', () => {
  for (const raw of ['api://kiosk-api', 'api://kiosk-api/', 'api://kiosk-api/.default', 'api://kiosk-api//']) assert.equal(normalizeResource(raw), 'api://kiosk-api', raw);
  assert.equal(normalizeResource('https://graph.microsoft.com/.default'), 'https://graph.microsoft.com');
  assert.equal(normalizeResource('api://contoso.com/app/'), 'api://contoso.com/app');
  for (const bad of ['', 'openid', 'http://plain.example', 'api://', 'api:///x', 'https://x/?q=1', 'https://x/#f', 'api://a b', 'api://a\nb', `api://${'a'.repeat(600)}`, '/.default'])
    assert.equal(normalizeResource(bad), undefined, JSON.stringify(bad));
  assert.equal(resourceOfScope('api://kiosk-api/kiosk.read'), 'api://kiosk-api');
  assert.equal(resourceOfScope('https://graph.microsoft.com/User.Read'), 'https://graph.microsoft.com');
  for (const none of ['openid', 'profile', 'offline_access', 'email', 'User.Read', 'api://kiosk-api', 'api://kiosk-api/']) assert.equal(resourceOfScope(none), undefined, none);
  const scopes = ['openid', 'api://kiosk-api/kiosk.read', 'api://kiosk-api/kiosk.write', 'offline_access'];
  assert.deepEqual(scopesFor('api://kiosk-api', scopes), ['api://kiosk-api/kiosk.read', 'api://kiosk-api/kiosk.write'], "the resource's own scopes");
  assert.deepEqual(scopesFor('https://graph.microsoft.com', scopes), ['https://graph.microsoft.com/.default'], 'else its .default');
});

test('Host: the listen address, loopback names on a loopback address, any IP on a wildcard address, never a name otherwise', () => {
  const loopback = hostRule('127.0.0.1', 8079);
  for (const ok of ['127.0.0.1:8079', 'localhost:8079', 'LocalHost:8079', '[::1]:8079']) assert.ok(loopback(ok), ok);
  for (const no of [undefined, '', '127.0.0.1', '127.0.0.1:8080', 'kiosk.lan:8079', '10.0.0.5:8079', '127.0.0.1:8079:1', 'localhost.attacker.example:8079'])
    assert.ok(!loopback(no), String(no));
  const v6 = hostRule('::1', 8079);
  assert.ok(v6('[::1]:8079') && v6('localhost:8079') && !v6('::1:8079'));
  const lan = hostRule('192.168.1.5', 8079);
  assert.ok(lan('192.168.1.5:8079'));
  for (const no of ['127.0.0.1:8079', 'localhost:8079', 'kiosk.lan:8079']) assert.ok(!lan(no), no);
  const any = hostRule('0.0.0.0', 8079);
  for (const ok of ['192.168.1.5:8079', '127.0.0.1:8079', '[fe80::1]:8079', 'localhost:8079']) assert.ok(any(ok), ok);
  assert.ok(!any('kiosk.lan:8079') && !any('192.168.1.5:80'));
});

test('request checks: who asks before how, the secret before what; the first refusal wins', () => {
  const secret = new HeaderSecret('s'.repeat(32));
  const ctx: CheckContext = { hostAllowed: hostRule('127.0.0.1', 8079), secret, resources: new Set(['api://kiosk-api']), secretFile: '/data/identity-header' };
  const req = (o: Partial<RequestLike> & { headers?: Record<string, string> } = {}): RequestLike => ({
    method: o.method ?? 'GET',
    url: o.url ?? '/msi/token?api-version=2019-08-01&resource=api%3A%2F%2Fkiosk-api%2F.default',
    headers: { host: '127.0.0.1:8079', 'x-identity-header': secret.value, ...o.headers },
  });
  assert.deepEqual(checkRequest(req(), ctx), { route: 'token', resource: 'api://kiosk-api', requested: 'api://kiosk-api/.default' });
  assert.deepEqual(checkRequest(req({ url: '/identity' }), ctx), { route: 'identity' });
  const status = (r: RequestLike): number | string => {
    const c = checkRequest(r, ctx);
    return 'status' in c ? c.status : c.route;
  };
  assert.equal(status(req({ headers: { host: 'evil.example:8079', origin: 'http://evil.example' } })), 403, 'a foreign Host first');
  assert.equal(status(req({ method: 'POST', headers: { origin: 'http://evil.example' } })), 403, 'a browser before the method');
  assert.equal(status(req({ method: 'PUT', headers: { 'x-identity-header': 'wrong' } })), 405, 'the method before the secret');
  assert.equal(status(req({ url: '/nope', headers: { 'x-identity-header': 'wrong' } })), 404);
  assert.equal(status(req({ url: '/msi/token?api-version=1&resource=api://else', headers: { 'x-identity-header': 'wrong' } })), 401, 'the secret before the query');
  assert.equal(status(req({ headers: { 'content-length': '0' } })), 'token', 'an empty body is none');
  assert.equal(status(req({ headers: { 'content-length': '1' } })), 413);
  assert.equal(status(req({ url: '/msi/token?resource=api://kiosk-api&api-version=2019-08-01&api-version=2019-08-01' })), 400, 'a repeated api-version');
  assert.equal(status(req({ url: '/msi/token?api-version=2019-08-01&resource=api://kiosk-api&mi_res_id=x' })), 400);
  assert.equal(status(req({ url: '/msi/token/?api-version=2019-08-01&resource=api://kiosk-api' })), 404, 'paths are matched verbatim');
  assert.equal(status(req({ url: 'http://127.0.0.1:8079/msi/token?api-version=2019-08-01&resource=api://kiosk-api' })), 404, 'no absolute form');
});

test('the header secret: random at each start unless given, compared whatever its length, written 0640 atomically', async (t) => {
  const a = new HeaderSecret();
  const b = new HeaderSecret();
  assert.match(a.value, /^[0-9a-f]{64}$/);
  assert.notEqual(a.value, b.value);
  assert.ok(a.matches(a.value));
  for (const wrong of [undefined, '', b.value, a.value.slice(0, -1), `${a.value}0`, a.value.toUpperCase()]) assert.ok(!a.matches(wrong), String(wrong));
  assert.equal(new HeaderSecret('given-secret-value').value, 'given-secret-value');

  const dir = await mkdtemp(join(tmpdir(), 'kiosk-secret-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'state');
  const path = await a.write(stateDir);
  assert.equal(path, join(stateDir, IDENTITY_HEADER_FILE));
  assert.equal(await readFile(path, 'utf8'), a.value, 'exactly the value: no newline');
  assert.equal((await stat(path)).mode & 0o777, 0o640);
  await b.write(stateDir);
  assert.equal(await readFile(path, 'utf8'), b.value, 'replaced');
  assert.deepEqual(await readdir(stateDir), [IDENTITY_HEADER_FILE], 'no temp file left behind');
});
