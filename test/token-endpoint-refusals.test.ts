import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from './helpers/broker.js';
import { approveNext, command, startKiosk } from './helpers/kiosk.js';
import { API, ENDPOINT_ENV, GRAPH, ask, claimsOf, cli, startTokenKiosk, tokenPath } from './helpers/token-endpoint.js';
import type { Answer, Ask } from './helpers/token-endpoint.js';
import { eventually } from './helpers/wait.js';

/** The request line and headers exactly as given, on a raw socket (no client fills anything in). */
async function raw(port: number, head: string): Promise<Answer> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.end(head);
  let text = '';
  socket.setEncoding('utf8').on('data', (c: string) => (text += c));
  await once(socket, 'close');
  const [top = '', body = ''] = text.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(top)?.[1] ?? 0);
  return { status, headers: {}, text, json: body ? (JSON.parse(body) as Record<string, unknown>) : {} };
}

function assertRefusal(a: Answer, status: number, error: string, what: string): void {
  assert.equal(a.status, status, `${what}: ${a.text}`);
  assert.equal(a.json.error, error, what);
  assert.equal(typeof a.json.error_description, 'string', what);
  assert.ok(String(a.json.error_description).length > 10, `${what}: a description that helps`);
}

test('every refusal has its status, a JSON error and one log line without secrets; answers carry only the access token', async (t) => {
  const kiosk = await startTokenKiosk(t);
  const { agent, idp, port, secret } = kiosk;
  await approveNext(idp);
  await agent.waitForState('signed_in');
  const header = { 'X-IDENTITY-HEADER': secret };
  const good = tokenPath(API);
  const cases: Array<[string, Ask, number, string]> = [
    ['no header', { path: good }, 401, 'unauthorized'],
    ['a wrong header', { path: good, headers: { 'X-IDENTITY-HEADER': `${secret.slice(0, -1)}${secret.endsWith('0') ? '1' : '0'}` } }, 401, 'unauthorized'],
    ['a header of another length', { path: good, headers: { 'X-IDENTITY-HEADER': secret.slice(0, 16) } }, 401, 'unauthorized'],
    ['a browser (Origin)', { path: good, headers: { ...header, Origin: 'http://127.0.0.1:8080' } }, 403, 'forbidden'],
    ['a proxy (X-Forwarded-For)', { path: good, headers: { ...header, 'X-Forwarded-For': '10.0.0.7' } }, 403, 'forbidden'],
    ['a proxy (Forwarded)', { path: good, headers: { ...header, Forwarded: 'for=10.0.0.7' } }, 403, 'forbidden'],
    ['a foreign Host (DNS rebinding)', { path: good, headers: { ...header, Host: `attacker.example:${port}` } }, 403, 'forbidden'],
    ['a Host with another port', { path: good, headers: { ...header, Host: `127.0.0.1:${port + 1}` } }, 403, 'forbidden'],
    ['a resource not allowed', { path: tokenPath('api://someone-else'), headers: header }, 400, 'invalid_resource'],
    ['an OIDC scope as resource', { path: tokenPath('openid'), headers: header }, 400, 'invalid_resource'],
    ['no resource', { path: '/msi/token?api-version=2019-08-01', headers: header }, 400, 'invalid_resource'],
    ['two resources', { path: `${good}&resource=${encodeURIComponent(GRAPH)}`, headers: header }, 400, 'invalid_resource'],
    ['another api-version', { path: tokenPath(API, '2017-09-01'), headers: header }, 400, 'invalid_request'],
    ['no api-version', { path: `/msi/token?resource=${encodeURIComponent(API)}`, headers: header }, 400, 'invalid_request'],
    ['a user-assigned identity', { path: `${good}&client_id=00000000-0000-0000-0000-000000000001`, headers: header }, 400, 'invalid_request'],
    ['POST', { path: good, method: 'POST', headers: header }, 405, 'method_not_allowed'],
    ['DELETE', { path: good, method: 'DELETE', headers: header }, 405, 'method_not_allowed'],
    ['OPTIONS (a CORS preflight)', { path: good, method: 'OPTIONS', headers: header }, 405, 'method_not_allowed'],
    ['a body', { path: good, headers: { ...header, 'Content-Type': 'text/plain', 'Content-Length': '5' }, body: 'hello' }, 413, 'request_too_large'],
    ['a chunked body', { path: good, headers: { ...header, 'Transfer-Encoding': 'chunked' }, body: 'hello' }, 413, 'request_too_large'],
    ['a body of 1 MiB', { path: good, headers: { ...header, 'Content-Length': String(1 << 20) }, body: 'x'.repeat(1 << 20) }, 413, 'request_too_large'],
    ['a URL too long', { path: `${good}&x=${'a'.repeat(3_000)}`, headers: header }, 414, 'uri_too_long'],
    ['an unknown path (IMDS\'s)', { path: '/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://kiosk-api', headers: header }, 404, 'not_found'],
    ['a path spelled otherwise', { path: '/msi/%74oken?api-version=2019-08-01&resource=api://kiosk-api', headers: header }, 404, 'not_found'],
  ];
  const answers: Answer[] = [];
  for (const [what, o, status, error] of cases) {
    const a = await ask(port, o);
    assertRefusal(a, status, error, what);
    if (status === 405) assert.equal(a.headers.allow, 'GET', what);
    answers.push(a);
  }
  const noHost = await raw(port, `GET ${good} HTTP/1.0\r\nX-IDENTITY-HEADER: ${secret}\r\n\r\n`);
  assertRefusal(noHost, 403, 'forbidden', 'no Host at all');
  const hugeHeaders = await raw(port, `GET ${good} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Filler: ${'x'.repeat(10_000)}\r\n\r\n`);
  assertRefusal(hugeHeaders, 431, 'headers_too_large', 'oversized headers');
  const garbage = await raw(port, 'HELLO\r\n\r\n');
  assertRefusal(garbage, 400, 'bad_request', 'not HTTP');
  answers.push(noHost, hugeHeaders, garbage);

  // Each refusal is one log line naming its status, without the header secret anywhere in the log.
  await eventually(() => agent.logs().filter((l) => l.msg === 'token request refused').length >= cases.length + 3, 5_000, 'a log line per refusal');
  const lines = agent.logs().filter((l) => l.msg === 'token request refused');
  assert.equal(lines.length, cases.length + 3);
  assert.deepEqual(lines.map((l) => l.status).sort(), [...cases.map(([, , s]) => s), 403, 431, 400].sort());
  assert.ok(!agent.stderr().includes(secret), 'the header secret is never logged');

  // Accepted: the loopback names a local client sends, and the resource's other spellings.
  for (const [host, path] of [[`localhost:${port}`, good], [`127.0.0.1:${port}`, tokenPath(`${API}/`)], [`LOCALHOST:${port}`, tokenPath(`${API}/.default`)]] as const) {
    const a = await ask(port, { path, headers: { ...header, Host: host } });
    assert.equal(a.status, 200, `${host} ${path}: ${a.text}`);
    assert.deepEqual(Object.keys(a.json).sort(), ['access_token', 'client_id', 'expires_on', 'resource', 'token_type']);
    assert.equal(a.json.token_type, 'Bearer');
    assert.equal(a.json.client_id, 'kiosk-test-client');
    assert.match(String(a.json.expires_on), /^\d{10}$/, 'epoch seconds, as a string');
    assert.equal(claimsOf(String(a.json.access_token)).aud, API);
    answers.push(a);
  }
  // No answer carries any secret the provider issued other than that answer's own access token.
  const issued = await idp.issued();
  for (const a of answers) {
    const carried = issued.filter((s) => s.length >= 16 && a.text.includes(s));
    assert.deepEqual(carried, a.status === 200 ? [a.json.access_token] : [], `answer ${a.status}: only its access token`);
  }
  assert.equal(agent.states().at(-1), 'signed_in', 'the agent is unharmed');
});

test('503 with Retry-After after an operator sign-out, and again once signed in tokens follow', async (t) => {
  const kiosk = await startTokenKiosk(t);
  const { agent, idp, port, secret } = kiosk;
  await approveNext(idp);
  await agent.waitForState('signed_in');
  assert.equal((await ask(port, { path: tokenPath(API), headers: { 'X-IDENTITY-HEADER': secret } })).status, 200);
  assert.equal((await command(kiosk, 'sign_out')).status, 'ok');
  await agent.waitForState('awaiting_sign_in', 10_000, 1);
  const after = await ask(port, { path: tokenPath(API), headers: { 'X-IDENTITY-HEADER': secret } });
  assertRefusal(after, 503, 'not_signed_in', 'after sign-out');
  assert.match(String(after.headers['retry-after']), /^[1-9]\d*$/);
  const who = await ask(port, { path: '/identity', headers: { 'X-IDENTITY-HEADER': secret } });
  assert.deepEqual(who.json, { state: 'awaiting_sign_in', account: null, claims: null });
  await approveNext(idp, 'carol');
  await agent.waitForState('signed_in', 20_000, 1);
  const again = await ask(port, { path: tokenPath(API), headers: { 'X-IDENTITY-HEADER': secret } });
  assert.equal(again.status, 200, again.text);
  assert.equal(claimsOf(String(again.json.access_token)).preferred_username, 'carol@example.test', 'the account signed in now');
});

test('a burst of 1,000 requests: each answered with a token or 429, one token_issued per token, the agent unharmed', async (t) => {
  const kiosk = await startTokenKiosk(t);
  const { agent, idp, mqtt, port, secret } = kiosk;
  await approveNext(idp);
  await agent.waitForState('signed_in');
  const pool = new HttpAgent({ keepAlive: true, maxSockets: 16 });
  t.after(() => pool.destroy());
  const statesBefore = agent.states().length;
  const eventsBefore = mqtt.on('kiosk/test-kiosk/events').length;
  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: 1_000 }, () => ask(port, { path: tokenPath(API), headers: { 'X-IDENTITY-HEADER': secret }, agent: pool })));
  const seconds = Math.ceil((Date.now() - started) / 1000);
  const counts = new Map<number, number>();
  for (const a of answers) counts.set(a.status, (counts.get(a.status) ?? 0) + 1);
  assert.deepEqual([...counts.keys()].sort(), [200, 429], `statuses: ${JSON.stringify([...counts])}`);
  const ok = counts.get(200) ?? 0;
  const limited = counts.get(429) ?? 0;
  t.diagnostic(`${ok} tokens and ${limited} rate-limited answers`);
  for (const a of answers.filter((x) => x.status === 429)) {
    assert.equal(a.json.error, 'rate_limited');
    assert.match(String(a.headers['retry-after']), /^[1-9]\d*$/);
  }
  await eventually(() => mqtt.on('kiosk/test-kiosk/events').length - eventsBefore >= ok, 15_000, `${ok} token_issued events`);
  const events = mqtt.on('kiosk/test-kiosk/events').slice(eventsBefore).map((m) => JSON.parse(m.text) as { event: string; resource: string });
  assert.equal(events.filter((e) => e.event === 'token_issued' && e.resource === API).length, ok, 'one event per token handed out');
  // The flood is logged once a second at most, with the count left out.
  const floodLines = agent.logs().filter((l) => l.msg === 'token request refused: rate limit');
  const suppressed = floodLines.reduce((n, l) => n + Number(l.suppressed), 0);
  assert.ok(floodLines.length >= 1 && floodLines.length <= seconds + 1, `${floodLines.length} rate-limit lines for ${limited} refusals in ${seconds} s`);
  assert.ok(floodLines.length + suppressed <= limited);

  assert.equal(agent.states().length, statesBefore, 'no state change');
  assert.equal(agent.child.exitCode, null, 'still running');
  const retryAfter = Number(answers.find((a) => a.status === 429)?.headers['retry-after']);
  await new Promise((r) => setTimeout(r, retryAfter * 1000));
  assert.equal((await ask(port, { path: tokenPath(API), headers: { 'X-IDENTITY-HEADER': secret } })).status, 200, 'answered again after Retry-After');
  const health = await cli(['health'], { KIOSK_CLIENT_ID: 'x', KIOSK_AUTHORITY: idp.authority, KIOSK_CACHE_PATH: join(agent.dir, 'token-cache.json') });
  assert.equal(health.code, 0, health.stderr);
});

test('a port already taken: logged and retried, named by kiosk-agent health, sign-in unharmed; listening once the port is free', async (t) => {
  const port = await freePort();
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
  t.after(() => squatter.close());
  const { agent, idp } = await startKiosk(t, { env: { ...ENDPOINT_ENV, KIOSK_TOKEN_LISTEN: `127.0.0.1:${port}` } });
  const failed = await agent.waitForLog((l) => l.msg === 'token endpoint cannot start; retrying', 10_000);
  assert.equal(failed.code, 'EADDRINUSE');
  await agent.waitForState('awaiting_sign_in');
  const env = { KIOSK_CLIENT_ID: 'x', KIOSK_AUTHORITY: idp.authority, KIOSK_CACHE_PATH: join(agent.dir, 'token-cache.json') };
  // Asked until the status file has caught up with the failure (the code is drawn before MQTT or the endpoint settle).
  const named = new RegExp(`token endpoint for kiosk apps cannot start on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`);
  let health = await cli(['health'], env);
  for (let i = 0; i < 20 && !named.test(health.stderr); i++) health = await cli(['health'], env);
  assert.equal(health.code, 1, 'unhealthy while the endpoint cannot listen');
  assert.match(health.stderr, named);

  await new Promise((resolve) => squatter.close(resolve));
  await agent.waitForLog((l) => l.msg === 'token endpoint for kiosk apps listening', 40_000, 'the endpoint listening after a retry');
  await approveNext(idp);
  await agent.waitForState('signed_in');
  health = await cli(['health'], env);
  assert.equal(health.code, 0, health.stderr);
  const secret = await readFile(join(agent.dir, 'identity-header'), 'utf8');
  assert.equal((await ask(port, { path: tokenPath(API), headers: { 'X-IDENTITY-HEADER': secret } })).status, 200);
});

test('beyond loopback (0.0.0.0): a warning; any IP address with the port passes the Host check, a name never does', async (t) => {
  const { agent, idp } = await startKiosk(t, { env: { ...ENDPOINT_ENV, KIOSK_TOKEN_LISTEN: '0.0.0.0:0' } });
  const ready = await agent.waitForLog((l) => l.msg === 'token endpoint for kiosk apps listening', 20_000);
  await agent.waitForLog((l) => l.level === 'warn' && /listens beyond loopback/.test(l.msg), 5_000);
  const port = Number(ready.port);
  const secret = await readFile(join(agent.dir, 'identity-header'), 'utf8');
  await approveNext(idp);
  await agent.waitForState('signed_in');
  for (const host of [`127.0.0.1:${port}`, `192.0.2.10:${port}`, `[::1]:${port}`, `localhost:${port}`])
    assert.equal((await ask(port, { path: tokenPath(API), headers: { 'X-IDENTITY-HEADER': secret, Host: host } })).status, 200, host);
  for (const host of [`kiosk.example:${port}`, `192.0.2.10:${port + 1}`, '192.0.2.10'])
    assertRefusal(await ask(port, { path: tokenPath(API), headers: { 'X-IDENTITY-HEADER': secret, Host: host } }), 403, 'forbidden', host);
});
