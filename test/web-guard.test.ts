import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { systemClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import type { ActionOutcome, KioskActions } from '../src/displays/display.js';
import { toView } from '../src/displays/view.js';
import { webDisplay } from '../src/displays/web.js';
import { createLogger } from '../src/log.js';
import type { Claims, Snapshot } from '../src/state.js';
import { pageToken, rawRequest } from './helpers/http.js';

const URI = 'https://microsoft.com/devicelogin';
const CODE = 'WXYZ-2345';

/** Actions that record what they were asked and answer as told: the display's side of the boundary (the lifecycle's is in web-person.test.ts). */
class Recorder implements KioskActions {
  readonly calls: string[] = [];
  outcome: ActionOutcome = 'ok';
  fail = false;
  async signOut(): Promise<ActionOutcome> {
    this.calls.push('signOut');
    if (this.fail) throw new Error('boom');
    return this.outcome;
  }
  signIn(): ActionOutcome {
    this.calls.push('signIn');
    return this.outcome;
  }
}

async function page(t: TestContext, env: Record<string, string> = {}) {
  const logs: Array<Record<string, unknown>> = [];
  const { config } = loadConfig({
    env: {
      KIOSK_CLIENT_ID: 'kiosk-test', KIOSK_AUTHORITY: 'https://login.example.test/t/', KIOSK_DEVICE_ID: 'lobby-1', KIOSK_WEB_PORT: '0',
      KIOSK_WEB_SIGN_OUT: 'true', KIOSK_SIGN_IN: 'on_request', KIOSK_WEB_ALLOWED_HOSTS: 'kiosk.local', ...env,
    },
  });
  const log = createLogger('info', { write: (s: string) => void logs.push(JSON.parse(s) as Record<string, unknown>) });
  const actions = new Recorder();
  const display = webDisplay({ config, log, clock: systemClock, actions });
  await display.start();
  t.after(() => display.stop());
  const port = Number(logs.find((l) => l.msg === 'kiosk page listening')?.port);
  const show = (s: Omit<Snapshot, 'since'>, claims?: Claims): void => void display.render(toView({ since: Date.now(), ...s }, claims, Date.now(), 'lobby-1'));
  return { display, actions, logs, port, show, origin: `http://127.0.0.1:${port}` };
}

const tokenOf = async (port: number): Promise<string> => {
  const token = await pageToken(port);
  assert.ok(token !== undefined && token.length === 43, 'the page carries a 32-byte token');
  return token;
};

test('a foreign Host gets 421 on every route before anything is read or done; the kiosk\'s own names are answered', async (t) => {
  const p = await page(t);
  p.show({ state: 'awaiting_sign_in', userCode: CODE, verificationUri: URI, expiresAt: Date.now() + 600_000 });
  const foreign = [
    'evil.example', 'evil.example:8080', '127.0.0.1.nip.io', 'localhost.evil.example', '127.0.0.2', '[::2]', '0.0.0.0',
    'kiosk.local.', '127.0.0.1@evil.example', 'evil.example/127.0.0.1', '', undefined,
  ];
  for (const host of foreign) {
    for (const path of ['/', '/state.json', '/events', '/qr.svg', '/nope']) {
      const r = await rawRequest(p.port, path, { headers: { host } });
      // No Host at all is HTTP/1.1's own error, answered by Node before the page sees it.
      assert.equal(r.status, host === undefined ? 400 : 421, `Host ${JSON.stringify(host)} ${path}`);
      assert.ok(!r.body.includes(CODE), 'nothing of the state in the refusal');
      if (host !== undefined) assert.match(String(r.headers['content-security-policy']), /default-src 'none'/);
    }
    const post = await rawRequest(p.port, '/sign-out', { method: 'POST', headers: { host, origin: p.origin }, body: `csrf=${await tokenOf(p.port)}` });
    assert.equal(post.status, host === undefined ? 400 : 421, `POST with Host ${JSON.stringify(host)}`);
  }
  assert.deepEqual(p.actions.calls, [], 'no action ran');
  for (const host of [`127.0.0.1:${p.port}`, '127.0.0.1', `localhost:${p.port}`, 'LOCALHOST', `[::1]:${p.port}`, 'kiosk.local', 'Kiosk.Local:80']) {
    const r = await rawRequest(p.port, '/state.json', { headers: { host } });
    assert.equal(r.status, 200, `Host ${host}`);
    assert.match(r.body, new RegExp(CODE));
  }
  assert.ok(p.logs.some((l) => l.msg === 'kiosk page request refused' && l.status === 421 && l.reason === 'host'), 'refusals are logged');
  assert.ok(p.logs.filter((l) => l.msg === 'kiosk page request refused').length < 10, 'a flood of refusals is a few lines, not one each');
});

test('POST /sign-out: only from the page\'s own Origin with its token; every forgery is 403 and changes nothing', async (t) => {
  const p = await page(t);
  p.show({ state: 'signed_in', account: { username: 'ada@example.com', name: 'Ada' } }, { name: 'Ada', preferred_username: 'ada@example.com' });
  const token = await tokenOf(p.port);
  const other = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
  const forged: Array<[string, Record<string, string | undefined>, string]> = [
    ['no token', { origin: p.origin }, ''],
    ['an empty token', { origin: p.origin }, 'csrf='],
    ['a wrong token of the same length', { origin: p.origin }, `csrf=${other}`],
    ['the token under another name', { origin: p.origin }, `token=${token}`],
    ['a foreign Origin', { origin: 'http://evil.example' }, `csrf=${token}`],
    ['Origin: null', { origin: 'null' }, `csrf=${token}`],
    ['no Origin', {}, `csrf=${token}`],
    ['another port of the same host', { origin: 'http://127.0.0.1:1' }, `csrf=${token}`],
    ['another allowed name than the one asked', { origin: `http://localhost:${p.port}` }, `csrf=${token}`],
    ['an Origin with a path', { origin: `${p.origin}/x` }, `csrf=${token}`],
    ['a file: Origin', { origin: 'file://' }, `csrf=${token}`],
  ];
  for (const [what, headers, body] of forged) {
    const r = await rawRequest(p.port, '/sign-out', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
    assert.equal(r.status, 403, what);
    assert.ok(!r.body.includes(token), `${what}: the refusal does not echo the token`);
  }
  const huge = await rawRequest(p.port, '/sign-out', { method: 'POST', headers: { origin: p.origin }, body: `csrf=${token}&pad=${'x'.repeat(4_096)}` });
  assert.equal(huge.status, 413, 'an oversized body');
  assert.deepEqual(p.actions.calls, [], 'no forged request reached the actions');
  assert.ok(!p.logs.some((l) => JSON.stringify(l).includes(token)), 'the token is never logged');

  const wrongMethod = await rawRequest(p.port, '/sign-out');
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.allow, 'POST');

  const ok = await rawRequest(p.port, '/sign-out', { method: 'POST', headers: { origin: p.origin, 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' }, body: `csrf=${token}` });
  assert.equal(ok.status, 204);
  assert.equal(ok.headers['content-length'], undefined, 'a 204 has no body');
  assert.match(String(ok.headers['content-security-policy']), /default-src 'none'/);
  assert.deepEqual(p.actions.calls, ['signOut']);
  p.actions.outcome = 'not_signed_in';
  const late = await rawRequest(p.port, '/sign-out', { method: 'POST', headers: { origin: p.origin }, body: `csrf=${token}` });
  assert.equal(late.status, 409, 'a sign-out with nobody signed in');
  assert.match(late.body, /nobody is signed in/);
  p.actions.fail = true;
  const broken = await rawRequest(p.port, '/sign-out', { method: 'POST', headers: { origin: p.origin }, body: `csrf=${token}` });
  assert.equal(broken.status, 500, 'an action that throws is a 500, not a crash');
  assert.equal((await rawRequest(p.port, '/state.json')).status, 200, 'the page still answers');
  // A TLS proxy in front keeps the same host: its https Origin is the page's own.
  p.actions.fail = false;
  p.actions.outcome = 'ok';
  const proxied = await rawRequest(p.port, '/sign-out', { method: 'POST', headers: { host: 'kiosk.local', origin: 'https://kiosk.local' }, body: `csrf=${token}` });
  assert.equal(proxied.status, 204);
});

test('POST /sign-in follows the same rules; each action is 404 while its setting is off, and the page offers it only then', async (t) => {
  const on = await page(t);
  const token = await tokenOf(on.port);
  on.show({ state: 'awaiting_sign_in', detail: 'Not signed in' });
  let state = JSON.parse((await rawRequest(on.port, '/state.json')).body) as Record<string, unknown>;
  assert.equal(state.canSignIn, true);
  assert.equal(state.canSignOut, undefined);
  assert.equal((await rawRequest(on.port, '/sign-in', { method: 'POST', headers: { origin: 'http://evil.example' }, body: `csrf=${token}` })).status, 403);
  assert.equal((await rawRequest(on.port, '/sign-in', { method: 'POST', headers: { origin: on.origin }, body: 'csrf=nope' })).status, 403);
  assert.deepEqual(on.actions.calls, []);
  assert.equal((await rawRequest(on.port, '/sign-in', { method: 'POST', headers: { origin: on.origin }, body: `csrf=${token}` })).status, 204);
  assert.deepEqual(on.actions.calls, ['signIn']);
  on.actions.outcome = 'wrong_state';
  assert.equal((await rawRequest(on.port, '/sign-in', { method: 'POST', headers: { origin: on.origin }, body: `csrf=${token}` })).status, 409);
  on.show({ state: 'signed_in', account: { username: 'ada@example.com' } });
  state = JSON.parse((await rawRequest(on.port, '/state.json')).body) as Record<string, unknown>;
  assert.equal(state.canSignOut, true);
  assert.equal(state.canSignIn, undefined);

  const off = await page(t, { KIOSK_WEB_SIGN_OUT: 'false', KIOSK_SIGN_IN: 'auto' });
  const offToken = await tokenOf(off.port);
  off.show({ state: 'signed_in', account: { username: 'ada@example.com' } });
  assert.equal(JSON.parse((await rawRequest(off.port, '/state.json')).body).canSignOut, undefined);
  for (const path of ['/sign-out', '/sign-in']) {
    const r = await rawRequest(off.port, path, { method: 'POST', headers: { origin: off.origin }, body: `csrf=${offToken}` });
    assert.equal(r.status, 404, path);
    assert.match(r.body, path === '/sign-out' ? /KIOSK_WEB_SIGN_OUT=true/ : /KIOSK_SIGN_IN=on_request/);
  }
  assert.deepEqual(off.actions.calls, []);
  assert.notEqual(offToken, token, 'each process (here: each display without a shared token) has its own');
});
