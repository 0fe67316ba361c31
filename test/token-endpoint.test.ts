import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { approveNext } from './helpers/kiosk.js';
import { API, GRAPH, ask, claimsOf, runClient, startTokenKiosk, tokenPath } from './helpers/token-endpoint.js';
import type { ClientKind, ClientRun } from './helpers/token-endpoint.js';
import { eventually } from './helpers/wait.js';

/** Only loopback, only the endpoint: no IMDS probe, no CLI, no name lookup. */
function assertOnlyEndpoint(run: ClientRun, port: number, what: string): void {
  assert.ok(run.guard.length > 0, `${what}: the network guard saw the app's connections`);
  assert.deepEqual(run.guard.filter((g) => !(g.kind === 'connect' && g.host === '127.0.0.1' && g.port === port)), [], `${what}: nothing but 127.0.0.1:${port}`);
}

test('the network guard of the app processes reports and stops a connection beyond loopback (as an IMDS probe would be)', async (t) => {
  // A client that tries IMDS when IDENTITY_ENDPOINT is missing: the guard must show it, or the checks below prove nothing.
  const run = await runClient(t, 'msal', API, '', '');
  assert.ok(run.error, 'without an endpoint it gets no token');
  assert.equal(run.tokens.length, 0);
  assert.ok(run.guard.some((g) => g.kind === 'connect' && g.host === '169.254.169.254'), `the IMDS probe is reported: ${JSON.stringify(run.guard)}`);
});

test('Azure SDK apps, unchanged, get the signed-in account\'s tokens for each configured resource; 503 before sign-in; /identity greets the person', async (t) => {
  const kiosk = await startTokenKiosk(t);
  const { agent, idp, mqtt, port, endpoint, secret } = kiosk;
  await agent.waitForState('awaiting_sign_in');

  const early = await ask(port, { path: tokenPath(API), headers: { 'X-IDENTITY-HEADER': secret } });
  assert.equal(early.status, 503, early.text);
  assert.equal(early.json.error, 'not_signed_in');
  assert.match(String(early.headers['retry-after']), /^\d+$/);
  const nobody = await ask(port, { path: '/identity', headers: { 'X-IDENTITY-HEADER': secret } });
  assert.equal(nobody.status, 200);
  assert.deepEqual(nobody.json, { state: 'awaiting_sign_in', account: null, claims: null });

  const file = join(agent.dir, 'identity-header');
  assert.equal((await stat(file)).mode & 0o777, 0o640, 'identity-header is 0640');
  assert.match(secret, /^[0-9a-f]{64}$/, '32 random bytes, hex');

  await approveNext(idp, 'bob');
  await agent.waitForState('signed_in');
  const cases: Array<[ClientKind, string, string]> = [
    ['identity', `${API}/.default`, API],
    ['default', `${GRAPH}/.default`, GRAPH],
    ['msal', API, API],
    ['msal', `${GRAPH}/`, GRAPH],
  ];
  for (const [client, target, audience] of cases) {
    const run = await runClient(t, client, target, endpoint, secret);
    assert.equal(run.error, undefined, `${client} ${target}: ${JSON.stringify(run.error)}`);
    const [got] = run.tokens;
    assert.ok(got, `${client} got a token`);
    const claims = claimsOf(got.token);
    assert.equal(claims.aud, audience, `${client} ${target}: the token is for ${audience}`);
    assert.equal(claims.preferred_username, 'bob@example.test', 'the signed-in account');
    assert.ok((await idp.issued()).includes(got.token), 'issued by the provider to the agent');
    // The clients rebase expires_on on their clock at the request (whole seconds): the token's own expiry, less the round trip.
    const early = Number(claims.exp) * 1000 - got.expires_on;
    assert.ok(early >= -1_000 && early <= 30_000, `expires_on is the token's own expiry (${early} ms early)`);
    assertOnlyEndpoint(run, port, `${client} ${target}`);
  }

  const who = await ask(port, { path: '/identity', headers: { 'X-IDENTITY-HEADER': secret } });
  assert.equal(who.status, 200);
  assert.equal(who.json.state, 'signed_in');
  assert.deepEqual(who.json.account, { username: 'bob@example.test', name: 'Bob Example' });
  assert.equal((who.json.claims as Record<string, unknown>).preferred_username, 'bob@example.test');
  assert.ok(!JSON.stringify(who.json).includes('token'), 'no token of any kind in /identity');

  // One `token_issued` per answer, carrying the resource and the time only.
  const tokenEvents = (): Record<string, unknown>[] =>
    mqtt.on('kiosk/test-kiosk/events').map((m) => JSON.parse(m.text) as Record<string, unknown>).filter((e) => e.event === 'token_issued');
  await eventually(() => tokenEvents().length >= cases.length, 10_000, 'a token_issued event for each token');
  const issued = tokenEvents();
  assert.equal(issued.length, cases.length);
  for (const e of issued) {
    assert.deepEqual(Object.keys(e).sort(), ['at', 'event', 'resource']);
    assert.match(String(e.at), /^\d{4}-\d\d-\d\dT.*Z$/);
  }
  assert.deepEqual(issued.map((e) => e.resource), cases.map(([, , resource]) => resource));
  assert.ok(!agent.stderr().includes(secret) && !agent.stdout().includes(secret), 'the header secret is never logged');
});

test('MSAL renews a token near its expiry, so an app\'s next call gets the new one; a fresh token is shared, one acquisition per resource however many apps ask', async (t) => {
  // 60 s tokens: MSAL counts them as due (300 s ahead), on the agent's side and on the app's.
  const short = await startTokenKiosk(t, { before: (idp) => idp.faults({ access_token_expires_in: 60 }) });
  await approveNext(short.idp);
  await short.agent.waitForState('signed_in');
  const grantsBefore = (await short.idp.requests()).filter((r) => r.grant_type === 'refresh_token').length;
  const run = await runClient(t, 'identity', `${API}/.default`, short.endpoint, short.secret, 2);
  assert.equal(run.error, undefined, JSON.stringify(run.error));
  const [first, second] = run.tokens;
  assert.ok(first && second);
  assert.notEqual(first.token, second.token, 'the second call got a renewed token');
  for (const got of [first, second]) assert.equal(claimsOf(got.token).aud, API);
  const grants = (await short.idp.requests()).filter((r) => r.grant_type === 'refresh_token').length - grantsBefore;
  assert.ok(grants >= 2, `the agent refreshed for each call (${grants} refresh grants), the app never held a refresh token`);
  assertOnlyEndpoint(run, short.port, 'renewal');

  // Hour-long tokens: two apps get the one cached token; a burst for an uncached resource is one refresh.
  const long = await startTokenKiosk(t);
  await approveNext(long.idp);
  await long.agent.waitForState('signed_in');
  const before = (await long.idp.requests()).filter((r) => r.endpoint === 'token').length;
  const one = await runClient(t, 'identity', `${API}/.default`, long.endpoint, long.secret);
  const two = await runClient(t, 'msal', API, long.endpoint, long.secret);
  assert.equal(one.tokens[0]?.token, two.tokens[0]?.token, 'the same cached token for both apps');
  assert.equal((await long.idp.requests()).filter((r) => r.endpoint === 'token').length, before, 'served from the cache: no token request');

  const logsBefore = long.agent.logs().length;
  const burst = await Promise.all(Array.from({ length: 20 }, () => ask(long.port, { path: tokenPath(GRAPH), headers: { 'X-IDENTITY-HEADER': long.secret } })));
  assert.deepEqual([...new Set(burst.map((a) => a.status))], [200]);
  assert.equal(new Set(burst.map((a) => a.json.access_token)).size, 1, 'one token for all twenty');
  assert.equal(claimsOf(String(burst[0]?.json.access_token)).aud, GRAPH);
  const refreshes = (await long.idp.requests()).filter((r) => r.endpoint === 'token').length - before;
  assert.equal(refreshes, 1, 'twenty concurrent requests for one resource: one acquisition');
  // MSAL (debug log) was asked once: the endpoint shares the acquisition itself, not only MSAL's own coalescing.
  const silentCalls = long.agent.logs().slice(logsBefore).filter((l) => /acquireTokenSilent (called for the first time|has been called previously)/.test(l.msg));
  assert.equal(silentCalls.length, 1, `MSAL's acquireTokenSilent was called ${silentCalls.length} times`);
});

test('a refresh answered with a forged ID token gives the app no token, neither then nor from the cache later', async (t) => {
  const kiosk = await startTokenKiosk(t);
  const { agent, idp, port, secret } = kiosk;
  await approveNext(idp);
  await agent.waitForState('signed_in');
  await idp.faults({ id_token_fault: 'forged' });
  const header = { 'X-IDENTITY-HEADER': secret };
  // The graph token is not cached: MSAL refreshes, and the provider answers with a forged ID token.
  const refused = await ask(port, { path: tokenPath(GRAPH), headers: header });
  assert.equal(refused.status, 502, refused.text);
  assert.equal(refused.json.error, 'invalid_id_token');
  assert.equal(refused.json.access_token, undefined);
  assert.ok((await idp.requests()).some((r) => r.grant_type === 'refresh_token'), 'the provider was asked');
  await idp.clearFaults();
  // MSAL keeps the access token (and the forged ID token) in its cache: neither resource is served from it.
  for (const resource of [GRAPH, API]) {
    const again = await ask(port, { path: tokenPath(resource), headers: header });
    assert.equal(again.status, 502, `${resource}: ${again.text}`);
    assert.equal(again.json.error, 'invalid_id_token');
  }
  const issued = await idp.issued();
  assert.ok(!issued.some((s) => s.length >= 16 && (refused.text.includes(s) || agent.stderr().includes(s))), 'no token in the answers or the log');
  assert.ok(agent.logs().some((l) => l.level === 'warn' && l.msg === 'ID token failed verification; no access token for the kiosk app'));
});
