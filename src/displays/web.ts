import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DisplayName } from '../config.js';
import { limitConnections, PAGE_TIMEOUTS } from './connection-limit.js';
import type { Display, DisplayDeps } from './display.js';
import { CONTENT_SECURITY_POLICY, PAGE_HTML } from './web-page.js';
import { INITIAL_STATE, pageMessage, pageState, qrSvg } from './web-state.js';
import type { PageState } from './web-state.js';
import type { View } from './view.js';

/** A comment on every event stream this often, so proxies and dead peers are noticed. */
const HEARTBEAT_MS = 15_000;
/** How soon a browser reconnects after the stream drops (the agent restarting, say). */
const RETRY_MS = 2_000;
/** Event streams at once; a kiosk has one browser, this only bounds a misbehaving client. */
const MAX_STREAMS = 16;
/** Open connections at once (streams included): far below a Pi's 1,024 file descriptors. */
const MAX_CONNECTIONS = 64;
/** A stream whose reader has fallen this far behind is dropped rather than buffered. */
const MAX_BACKLOG = 64 * 1024;
const CLOSE_WAIT_MS = 1_000;

const HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

const PAGE = Buffer.from(PAGE_HTML, 'utf8');

/**
 * SPEC §4 `web`: the kiosk page on `KIOSK_WEB_HOST:KIOSK_WEB_PORT`. Serves exactly `/`, `/events`
 * (Server-Sent Events), `/state.json` and `/qr.svg`, GET and HEAD only, all from memory: nothing
 * is ever read from disk, and request paths are matched verbatim (never decoded or normalised),
 * so `/../x` or `/%2e%2e/` is just an unknown path. A port that is taken makes `start` throw.
 */
export class WebDisplay implements Display {
  readonly name: DisplayName = 'web';
  private server: Server | undefined;
  private readonly streams = new Set<ServerResponse>();
  private heartbeat: NodeJS.Timeout | undefined;
  private state: PageState = INITIAL_STATE;
  private body = '';
  private failure: Error | undefined;

  constructor(private readonly deps: DisplayDeps) {}

  async start(): Promise<void> {
    const { host, port } = this.deps.config.web;
    const server = createServer({ ...PAGE_TIMEOUTS }, (req, res) => this.handle(req, res));
    limitConnections(server, MAX_CONNECTIONS);
    this.server = server;
    this.failure = undefined;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => (this.failure ??= e));
    const bound = (server.address() as AddressInfo).port;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}/`;
    this.deps.log.info({ module: 'web', url, port: bound }, 'kiosk page listening');
  }

  render(view: View): void {
    if (this.failure !== undefined) throw this.failure;
    const next = pageState(view, this.deps.clock.now(), this.state);
    const body = JSON.stringify(next);
    if (body === this.body) return;
    this.state = next;
    this.body = body;
    for (const res of this.streams) this.push(res);
  }

  async stop(): Promise<void> {
    this.deps.clock.clearTimeout(this.heartbeat);
    this.heartbeat = undefined;
    for (const res of this.streams) res.end();
    this.streams.clear();
    const server = this.server;
    this.server = undefined;
    if (server?.listening !== true) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_WAIT_MS);
      timer.unref();
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(req, res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' });
    }
    const now = this.deps.clock.now();
    switch (path) {
      case '/':
        return send(req, res, 200, 'text/html; charset=utf-8', PAGE);
      case '/state.json':
        return send(req, res, 200, 'application/json; charset=utf-8', `${JSON.stringify(pageMessage(this.state, now))}\n`);
      case '/qr.svg':
        if (this.state.qrText === undefined) return send(req, res, 404, 'text/plain; charset=utf-8', 'no code\n');
        return send(req, res, 200, 'image/svg+xml', qrSvg(this.state.qrText));
      case '/events':
        return this.stream(req, res);
      default:
        return send(req, res, 404, 'text/plain; charset=utf-8', 'not found\n');
    }
  }

  /** Opens an event stream: the reconnect delay and the current state at once, then every change. */
  private stream(req: IncomingMessage, res: ServerResponse): void {
    if (this.streams.size >= MAX_STREAMS) return send(req, res, 503, 'text/plain; charset=utf-8', 'too many streams\n');
    res.writeHead(200, { ...HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', 'X-Accel-Buffering': 'no' });
    if (req.method === 'HEAD') return void res.end();
    req.socket.setNoDelay(true);
    req.socket.setKeepAlive(true, HEARTBEAT_MS);
    this.streams.add(res);
    if (this.heartbeat === undefined) this.beat();
    res.on('close', () => this.streams.delete(res));
    res.on('error', () => this.streams.delete(res));
    res.write(`retry: ${RETRY_MS}\n`);
    this.push(res);
  }

  private push(res: ServerResponse): void {
    this.write(res, `data: ${JSON.stringify(pageMessage(this.state, this.deps.clock.now()))}\n\n`);
  }

  private write(res: ServerResponse, chunk: string): void {
    if (res.writableLength > MAX_BACKLOG) {
      this.streams.delete(res);
      res.destroy();
      return;
    }
    res.write(chunk);
  }

  /** Keeps open streams alive through proxies; with no page open it stops, so an idle kiosk has no timer here. */
  private beat(): void {
    this.heartbeat = this.deps.clock.setTimeout(() => {
      this.heartbeat = undefined;
      for (const res of this.streams) this.write(res, ': heartbeat\n\n');
      if (this.server !== undefined && this.streams.size > 0) this.beat();
    }, HEARTBEAT_MS);
    this.heartbeat.unref?.();
  }
}

function send(
  req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {},
): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...HEADERS, ...extra, 'Content-Type': type, 'Content-Length': String(bytes.length) });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

export const webDisplay = (deps: DisplayDeps): Display => new WebDisplay(deps);
