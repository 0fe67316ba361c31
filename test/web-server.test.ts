import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import { test } from 'node:test';
import jsqr from 'jsqr';
import { systemClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { toView } from '../src/displays/view.js';
import { webDisplay } from '../src/displays/web.js';
import { createLogger } from '../src/log.js';
import type { Snapshot } from '../src/state.js';
import { freePort } from './helpers/browser.js';
import { startKiosk } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

const jsQR = jsqr.default;
const URI = 'https://microsoft.com/devicelogin';
const CODE = 'ABCD-EFGH';

function setup(port = 0) {
  const logs: Array<{ msg: string; url?: string; port?: number }> = [];
  const { config } = loadConfig({
    env: { KIOSK_CLIENT_ID: 'kiosk-test', KIOSK_AUTHORITY: 'https://login.example.test/t/', KIOSK_DEVICE_ID: 'lobby-1', KIOSK_WEB_PORT: String(port) },
  });
  const log = createLogger('info', { write: (s: string) => void logs.push(JSON.parse(s) as (typeof logs)[number]) });
  const display = webDisplay({ config, log, clock: systemClock });
  const show = (s: Omit<Snapshot, 'since'>): void => void display.render(toView({ since: Date.now(), ...s }, undefined, Date.now(), 'lobby-1'));
  const port_ = (): number => logs.find((l) => l.msg === 'kiosk page listening')?.port ?? 0;
  return { display, show, logs, port: port_ };
}

interface Reply { status: number; headers: IncomingHttpHeaders; body: string }

/** A raw request: the path goes on the wire exactly as given (no normalising, unlike fetch or a browser). */
function raw(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Rasterises the served SVG (runs of `M x y h w v1 h-w z` on a white square) and reads it with jsQR. */
function decodeSvg(svg: string): string | undefined {
  const n = Number(/viewBox="0 0 (\d+) \d+"/.exec(svg)?.[1]);
  const px = 6;
  const data = new Uint8ClampedArray(n * px * n * px * 4).fill(255);
  for (const [, x, y, w] of svg.matchAll(/M(\d+) (\d+)h(\d+)/g)) {
    for (let yy = Number(y) * px; yy < (Number(y) + 1) * px; yy += 1)
      for (let xx = Number(x) * px; xx < (Number(x) + Number(w)) * px; xx += 1) data.fill(0, (yy * n * px + xx) * 4, (yy * n * px + xx) * 4 + 3);
  }
  return jsQR(data, n * px, n * px, { inversionAttempts: 'dontInvert' })?.data;
}

function assertSecurityHeaders(r: Reply, what: string): void {
  const csp = String(r.headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/, what);
  assert.match(csp, /script-src 'sha256-[\w+/=]+'(;|$)/, what);
  assert.match(csp, /style-src 'sha256-[\w+/=]+'(;|$)/, what);
  assert.match(csp, /img-src 'self'/, what);
  assert.match(csp, /connect-src 'self'/, what);
  assert.doesNotMatch(csp, /unsafe/, what);
  assert.equal(r.headers['x-content-type-options'], 'nosniff', what);
  assert.equal(r.headers['referrer-policy'], 'no-referrer', what);
  assert.equal(r.headers['x-frame-options'], 'DENY', what);
  assert.equal(r.headers['cache-control'], 'no-store', what);
}

test('the web server serves its four routes from memory and refuses everything else', async (t) => {
  const { display, show, port } = setup();
  await display.start();
  t.after(() => display.stop());
  const p = port();
  assert.ok(p > 0, 'the bound port is logged');

  assert.equal((await raw(p, '/qr.svg')).status, 404, 'no QR before a code');
  show({ state: 'awaiting_sign_in', userCode: CODE, verificationUri: URI, verificationUriComplete: `${URI}?otc=${CODE}`, expiresAt: Date.now() + 900_000 });

  const page = await raw(p, '/');
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-type']), /^text\/html; charset=utf-8/);
  assert.doesNotMatch(page.body, /(src|href)="(https?:)?\/\//, 'no external assets');
  for (const path of ['/', '/state.json', '/qr.svg', '/events', '/nope']) assertSecurityHeaders(await raw(p, path, 'HEAD'), path);

  const state = JSON.parse((await raw(p, '/state.json')).body) as Record<string, unknown>;
  assert.equal(state.userCode, CODE);
  assert.equal(state.state, 'awaiting_sign_in');
  assert.ok(typeof state.expiresAt === 'number' && typeof state.serverTime === 'number');
  assert.ok(Math.abs((state.expiresAt as number) - Date.now() - 900_000) < 2_000, 'expiry as an absolute time');

  const svg = await raw(p, '/qr.svg?v=anything');
  assert.equal(svg.headers['content-type'], 'image/svg+xml');
  assert.equal(decodeSvg(svg.body), `${URI}?otc=${CODE}`, 'the SVG QR decodes to the complete URI');

  const head = await raw(p, '/', 'HEAD');
  assert.equal(head.body, '');
  assert.equal(Number(head.headers['content-length']), Buffer.byteLength(page.body));

  const refused = [
    '/../../etc/passwd', '/%2e%2e/', '/..%2f', '/%2e%2e%2fetc%2fpasswd', '/..%5c..%5cetc%5cpasswd', '//etc/passwd',
    '/./state.json', '/state.json/', '/index.html', '/src/displays/web.ts', '/package.json', '/qr.svg/..', '/events/x',
  ];
  for (const path of refused) {
    const r = await raw(p, path);
    assert.equal(r.status, 404, path);
    assert.doesNotMatch(r.body, /root:|"name"|import /, path);
  }
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const r = await raw(p, '/', method);
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.allow, 'GET, HEAD');
  }
});

test('the event stream sends the state on connect and on each change, and ends at once on stop', async (t) => {
  const { display, show, port } = setup();
  await display.start();
  t.after(() => display.stop());
  show({ state: 'awaiting_sign_in', userCode: CODE, verificationUri: URI, expiresAt: Date.now() + 600_000 });
  const res = await fetch(`http://127.0.0.1:${port()}/events`);
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const reader = res.body!.getReader();
  let text = '';
  const read = async (until: (s: string) => boolean): Promise<void> => {
    while (!until(text)) {
      const { value, done } = await reader.read();
      if (done) return;
      text += Buffer.from(value).toString();
    }
  };
  await read((s) => s.includes('\n\n'));
  assert.match(text, /^retry: \d+\nevent: token\ndata: [\w-]{43}\n\n/, 'the page token first, for a page open from before a restart');
  await read((s) => s.includes('"userCode"'));
  assert.match(text, /\n\ndata: \{.*"userCode":"ABCD-EFGH"/);
  show({ state: 'signed_in', account: { username: 'ada@example.com', name: 'Ada' } });
  await read((s) => s.includes('Signed in as Ada'));
  const stopping = Date.now();
  await Promise.all([display.stop(), read(() => false)]);
  assert.ok(Date.now() - stopping < 1_000, 'stop closed the stream promptly');
});

test('a taken port makes start throw', async (t) => {
  const first = setup();
  await first.display.start();
  t.after(() => first.display.stop());
  const second = setup(first.port());
  await assert.rejects(second.display.start(), { code: 'EADDRINUSE' });
  await second.display.stop();
});

test('a web display whose port is taken does not stop sign-in, and comes up once the port is free', async (t) => {
  const port = await freePort();
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
  const { idp, agent } = await startKiosk(t, { env: { KIOSK_DISPLAY: 'terminal,web', KIOSK_WEB_PORT: String(port) } });
  await agent.waitForState('awaiting_sign_in');
  const [pending] = await idp.waitForPending();
  assert.ok(pending);
  await eventually(() => agent.stdout().includes(pending.user_code), 5_000, 'the code on the terminal');
  await agent.waitForLog((l) => l.display === 'web' && l.code === 'EADDRINUSE', 10_000, 'the failure logged');
  await new Promise((resolve) => squatter.close(resolve));
  await agent.waitForLog((l) => l.msg === 'kiosk page listening', 15_000, 'the page after a retry');
  const state = (await (await fetch(`http://127.0.0.1:${port}/state.json`)).json()) as { userCode?: string };
  assert.equal(state.userCode, pending.user_code);
});
