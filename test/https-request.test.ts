import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { Agent as HttpAgent, createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Agent, createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { TestContext } from 'node:test';
import { AuthError } from '@azure/msal-node';
import { AnswerTooLargeError, HttpTimeoutError, httpsRequest } from '../src/auth/https-request.js';
import type { HttpRequest } from '../src/auth/https-request.js';
import { MetadataStore } from '../src/auth/metadata-store.js';
import { ProviderNetworkClient } from '../src/auth/network-client.js';
import { classify } from '../src/auth/provider-errors.js';
import { systemClock } from '../src/clock.js';
import { createLogger } from '../src/log.js';
import { createCa } from './helpers/pki.js';
import { eventually } from './helpers/wait.js';

const MiB = 2 ** 20;
const dir = await mkdtemp(join(tmpdir(), 'kiosk-https-request-'));
after(() => rm(dir, { recursive: true, force: true }));
const ca = await createCa(dir, 'https-request-ca');
const issued = await ca.issue('server', { names: ['IP:127.0.0.1'] });
const trusted = await readFile(ca.ca, 'utf8');

interface TestServer {
  readonly origin: string;
  /** Connections accepted so far, and those still open. */
  readonly accepted: () => number;
  readonly open: () => number;
}

/** `/echo`, `/big?bytes=N[&chunked][&status=S]`, `/hang`, `/stall`, `/redirect`: the provider behaviours the client must survive. */
function handle(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/echo') {
      res.setHeader('X-Repeated', ['a', 'b']);
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() }));
    }
    if (url.pathname === '/big') {
      const body = Buffer.alloc(Number(url.searchParams.get('bytes')), 'x');
      res.writeHead(Number(url.searchParams.get('status') ?? 200), { 'retry-after': '7', ...(url.searchParams.has('chunked') ? {} : { 'content-length': body.length }) });
      res.write(body.subarray(0, body.length / 2));
      return void res.end(body.subarray(body.length / 2));
    }
    if (url.pathname === '/stall') return void res.writeHead(200, { 'content-length': 100 }).write('{"error":');
    if (url.pathname === '/redirect') return void res.writeHead(302, { location: '/echo' }).end();
    // `/hang`: no answer at all
  });
}

async function serve(tls: boolean): Promise<TestServer> {
  const server: Server = tls ? createHttpsServer({ cert: await readFile(issued.cert), key: await readFile(issued.key) }, handle) : createHttpServer(handle);
  const sockets = new Set<Socket>();
  let accepted = 0;
  server.on('connection', (s: Socket) => {
    accepted += 1;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as { port: number };
  return { origin: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, accepted: () => accepted, open: () => sockets.size };
}

/** A loopback port nothing listens on any more: connecting to it is refused. */
async function refusedPort(): Promise<number> {
  const closed = createHttpServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as { port: number };
  await new Promise((resolve) => closed.close(resolve));
  return port;
}

const https = await serve(true);
const plain = await serve(false);

function call(path: string, o: Partial<HttpRequest> & { agent: Agent }): ReturnType<typeof httpsRequest> {
  return httpsRequest(`${https.origin}${path}`, { method: 'GET', timeoutMs: 5_000, maxBytes: MiB, signal: new AbortController().signal, ...o });
}

function client(t: TestContext, timeoutMs = 5_000): { net: ProviderNetworkClient; stop: AbortController } {
  const stop = new AbortController();
  t.after(() => stop.abort());
  const metadata = new MetadataStore({ path: join(dir, 'provider-metadata.json'), log: createLogger('silent') });
  return { net: new ProviderNetworkClient({ timeoutMs, log: createLogger('silent'), clock: systemClock, metadata, signal: stop.signal }), stop };
}

/** The failure the client recorded for a GET that must fail. */
async function failure(net: ProviderNetworkClient, url: string): Promise<{ description: string; ms: number }> {
  const started = performance.now();
  await assert.rejects(net.sendGetRequestAsync(url), AuthError);
  assert.equal(net.lastFailure?.kind, 'network');
  return { description: net.lastFailure.description, ms: performance.now() - started };
}

test("the caller's headers and form body go out as they are; answer headers come back lower-case", async (t) => {
  const agent = new Agent({ ca: trusted, keepAlive: true });
  t.after(() => agent.destroy());
  const body = 'client_id=c&scope=openid%20profile&device_code=é';
  const posted = await call('/echo', { agent, method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded;charset=utf-8', 'x-client-SKU': 'msal.js.node' }, body });
  const seen = JSON.parse(posted.text) as { method: string; headers: Record<string, string>; body: string };
  assert.equal(seen.method, 'POST');
  assert.equal(seen.body, body);
  assert.equal(seen.headers['content-type'], 'application/x-www-form-urlencoded;charset=utf-8');
  assert.equal(seen.headers['x-client-sku'], 'msal.js.node');
  assert.equal(seen.headers['content-length'], String(Buffer.byteLength(body)));
  assert.equal(seen.headers['transfer-encoding'], undefined, 'no chunked encoding');
  assert.equal(posted.headers['x-repeated'], 'a, b');
  assert.equal(posted.headers['content-type'], 'application/json');

  const got = JSON.parse((await call('/echo', { agent })).text) as { method: string; headers: Record<string, string>; body: string };
  assert.deepEqual([got.method, got.body, got.headers['content-length']], ['GET', '', undefined]);
  assert.equal((await call('/redirect', { agent })).status, 302, 'redirects are not followed');
});

test('keep-alive: one connection for successive requests, closed when the agent is destroyed', async () => {
  const agent = new Agent({ ca: trusted, keepAlive: true });
  const before = https.accepted();
  for (let i = 0; i < 3; i++) assert.equal((await call('/echo', { agent })).status, 200);
  assert.equal(https.accepted() - before, 1);
  agent.destroy();
  await eventually(() => https.open() === 0, 2_000, 'the pooled connection closed');
});

test('answers above maxBytes fail, whether declared or streamed, and their connection is dropped', async (t) => {
  const agent = new Agent({ ca: trusted, keepAlive: true });
  t.after(() => agent.destroy());
  assert.equal((await call(`/big?bytes=${MiB}&chunked`, { agent })).text.length, MiB, 'exactly the cap is fine');
  await assert.rejects(call(`/big?bytes=${3 * MiB}`, { agent }), AnswerTooLargeError);
  await assert.rejects(call(`/big?bytes=${MiB + 1}&chunked`, { agent }), AnswerTooLargeError);
  await eventually(() => https.open() <= 1, 2_000, 'the connections of refused answers closed');
});

test('the timeout covers the whole exchange: no headers, or headers and half a body', async (t) => {
  const agent = new Agent({ ca: trusted, keepAlive: true });
  t.after(() => agent.destroy());
  for (const path of ['/hang', '/stall']) {
    const started = performance.now();
    await assert.rejects(call(path, { agent, timeoutMs: 200 }), HttpTimeoutError);
    assert.ok(performance.now() - started < 1_500, `${path}: failed after ${(performance.now() - started).toFixed(0)} ms`);
  }
});

test('onSent: told once the request is on the wire, after its TLS handshake and before its answer; never for a connection refused', async (t) => {
  const agent = new Agent({ ca: trusted, keepAlive: true });
  t.after(() => agent.destroy());
  const seen: string[] = [];
  const protocols = (): string => Object.values(agent.sockets).flat().map((s) => (s as TLSSocket | undefined)?.getProtocol()).join();
  const answer = call('/echo', {
    agent, method: 'POST', body: 'x=1',
    onSent: () => seen.push(`sent over ${protocols()}`),
  }).then((a) => seen.push(`answer ${a.status}`));
  await answer;
  assert.deepEqual(seen, ['sent over TLSv1.3', 'answer 200'], 'told once, its handshake done, before the answer');

  const port = await refusedPort();
  let sent = 0;
  await assert.rejects(httpsRequest(`http://127.0.0.1:${port}/`, { method: 'GET', agent: new HttpAgent(), timeoutMs: 5_000, maxBytes: MiB, signal: new AbortController().signal, onSent: () => (sent += 1) }), /ECONNREFUSED/);
  assert.equal(sent, 0, 'nothing went out');
});

test('network client: an oversized answer (unless a 503), a hang and a refused connection are network waits; an untrusted certificate is tls_untrusted', async (t) => {
  const { net } = client(t, 300);
  const big = await failure(net, `${plain.origin}/big?bytes=${2 * MiB}&chunked`);
  assert.equal(big.description, 'answer larger than 1 MiB');
  assert.equal(classify(new AuthError('provider_unreachable', 'x'), net.lastFailure).kind, 'network');
  await assert.rejects(net.sendGetRequestAsync(`${plain.origin}/big?bytes=${2 * MiB}&status=503`), AuthError);
  assert.deepEqual([net.lastFailure?.kind, net.lastFailure?.retryAfterMs], ['unavailable', 7_000], 'a 503 is unavailable, whatever its body');

  const hang = await failure(net, `${plain.origin}/hang`);
  assert.equal(hang.description, 'no answer within 0.3 s');
  assert.ok(hang.ms < 1_500, `the timeout held (${hang.ms.toFixed(0)} ms)`);

  const port = await refusedPort();
  assert.equal((await failure(net, `http://127.0.0.1:${port}/`)).description, 'ECONNREFUSED');

  // This process does not trust the test CA (no NODE_EXTRA_CA_CERTS): verification stays on.
  assert.equal((await failure(net, `${https.origin}/echo`)).description, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  const outcome = classify(new AuthError('provider_unreachable', 'x'), net.lastFailure);
  assert.equal(outcome.kind === 'fatal' && outcome.fault.code, 'tls_untrusted');
});

test('network client: stopping ends a request in flight at once and closes pooled connections', async (t) => {
  const { net, stop } = client(t);
  assert.equal((await net.sendGetRequestAsync(`${plain.origin}/echo`)).status, 200);
  const before = plain.accepted();
  const hung = net.sendGetRequestAsync(`${plain.origin}/hang`);
  await eventually(() => plain.open() === 1 && plain.accepted() === before, 2_000, 'the hanging request on the pooled connection');
  const started = performance.now();
  stop.abort();
  await assert.rejects(hung, AuthError);
  assert.ok(performance.now() - started < 500, `ended after ${(performance.now() - started).toFixed(0)} ms`);
  assert.equal(net.lastFailure?.description, 'stopping');
  await eventually(() => plain.open() === 0, 2_000, 'every connection closed');
});
