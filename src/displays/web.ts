import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DisplayName } from '../config.js';
import { limitConnections, PAGE_TIMEOUTS } from './connection-limit.js';
import type { Display, DisplayDeps } from './display.js';
import { ACTION_PATHS, answerAction } from './web-actions.js';
import type { ActionPath } from './web-actions.js';
import { allowedHosts, hostOf, newPageToken } from './web-guard.js';
import { CONTENT_SECURITY_POLICY, pageHtml } from './web-page.js';
import { INITIAL_STATE, pageMessage, pageState, qrSvg } from './web-state.js';
import type { PageOffers, PageState } from './web-state.js';
import type { View } from './view.js';
import { closeServer } from '../server-close.js';

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

/** Refused requests are logged at most this often (with a count): a flood of forgeries is one line a second. */
const REFUSAL_LOG_MS = 1_000;

/**
 * CONTRACT §4 `web` and §9: the kiosk page on `KIOSK_WEB_HOST:KIOSK_WEB_PORT`. Serves exactly `/`,
 * `/events` (Server-Sent Events), `/state.json`, `/qr.svg` and, with KIOSK_METRICS, `/metrics` (GET and HEAD), and `POST /sign-out`,
 * `POST /sign-in`, all from memory: nothing is ever read from disk, and request paths are matched
 * verbatim (never decoded or normalised), so `/../x` or `/%2e%2e/` is just an unknown path. A request
 * whose `Host` is not the kiosk's own gets 421 before anything else. A port that is taken makes
 * `start` throw.
 */
export class WebDisplay implements Display {
  readonly name: DisplayName = 'web';
  private server: Server | undefined;
  private readonly streams = new Set<ServerResponse>();
  private heartbeat: NodeJS.Timeout | undefined;
  private state: PageState = INITIAL_STATE;
  private body = '';
  private failure: Error | undefined;
  private readonly token: string;
  private readonly page: Buffer;
  private readonly hosts: ReadonlySet<string>;
  private readonly offers: PageOffers;
  private refused = { count: 0, loggedAt: -Infinity };

  constructor(private readonly deps: DisplayDeps) {
    const { config, actions } = deps;
    this.token = deps.pageToken ?? newPageToken();
    this.page = Buffer.from(pageHtml(this.token), 'utf8');
    this.hosts = allowedHosts(config.web);
    this.offers = { signOut: actions !== undefined && config.web.signOut, signIn: actions !== undefined && config.signIn === 'on_request' };
  }

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
    const next = pageState(view, this.deps.clock.now(), this.state, this.offers);
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
    await closeServer(server, CLOSE_WAIT_MS);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    // Before anything else: a page on another site rebound to this address must learn nothing.
    if (!this.hosts.has(hostOf(req.headers.host) ?? '')) {
      this.refuse(req, 421, 'host');
      return send(req, res, 421, 'text/plain; charset=utf-8', 'misdirected request: this kiosk page answers to 127.0.0.1, localhost, [::1], KIOSK_WEB_HOST and KIOSK_WEB_ALLOWED_HOSTS\n');
    }
    const path = (req.url ?? '').split('?', 1)[0];
    if ((ACTION_PATHS as readonly string[]).includes(path ?? '')) return void this.action(req, res, path as ActionPath);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(req, res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' });
    }
    const now = this.deps.clock.now();
    switch (path) {
      case '/':
        return send(req, res, 200, 'text/html; charset=utf-8', this.page);
      case '/state.json':
        return send(req, res, 200, 'application/json; charset=utf-8', `${JSON.stringify(pageMessage(this.state, now))}\n`);
      case '/qr.svg':
        if (this.state.qrText === undefined) return send(req, res, 404, 'text/plain; charset=utf-8', 'no code\n');
        return send(req, res, 200, 'image/svg+xml', qrSvg(this.state.qrText));
      case '/events':
        return this.stream(req, res);
      case '/metrics':
        if (this.deps.metrics === undefined) return send(req, res, 404, 'text/plain; charset=utf-8', 'not found\n');
        return send(req, res, 200, 'text/plain; version=0.0.4; charset=utf-8', this.deps.metrics());
      default:
        return send(req, res, 404, 'text/plain; charset=utf-8', 'not found\n');
    }
  }

  /**
   * `POST /sign-out`, `POST /sign-in` (CONTRACT §9): through `answerAction`'s checks to the kiosk's
   * actions, which are the lifecycle's own operations. Never throws: a failure is a 500.
   */
  private async action(req: IncomingMessage, res: ServerResponse, path: ActionPath): Promise<void> {
    const reply = (status: number, text: string, extra: Record<string, string> = {}): void =>
      // A 204 has no body, and so no Content-Length either (RFC 9110 §8.6).
      status === 204 ? void res.writeHead(204, HEADERS).end() : send(req, res, status, 'text/plain; charset=utf-8', `${text}\n`, extra);
    if (req.method !== 'POST') return reply(405, 'method not allowed', { Allow: 'POST' });
    const { actions } = this.deps;
    const signOut = path === '/sign-out';
    try {
      const answer = await answerAction(req, {
        setting: signOut ? 'KIOSK_WEB_SIGN_OUT=true turns it on' : 'KIOSK_SIGN_IN=on_request turns it on',
        enabled: signOut ? this.offers.signOut : this.offers.signIn,
        token: this.token,
        act: () => (signOut ? actions!.signOut('kiosk_page') : actions!.signIn()),
      });
      if (answer.forged !== undefined) this.refuse(req, answer.status, answer.forged);
      else if (answer.status === 204) this.deps.log.info({ module: 'web', action: path }, signOut ? 'signed out from the kiosk page' : 'sign-in asked for from the kiosk page');
      reply(answer.status, answer.text, answer.status === 413 ? { Connection: 'close' } : {});
    } catch (e) {
      this.deps.log.error({ module: 'web', action: path, err: e }, 'kiosk page action failed');
      if (!res.headersSent) reply(500, 'the action failed; see the agent log');
    }
  }

  /** Logs a refused request without its content: the first at once, then one line a second with a count. */
  private refuse(req: IncomingMessage, status: number, reason: string): void {
    this.refused.count += 1;
    const now = this.deps.clock.now();
    if (now - this.refused.loggedAt < REFUSAL_LOG_MS) return;
    this.deps.log.warn({ module: 'web', status, method: req.method, refused: this.refused.count, reason }, 'kiosk page request refused');
    this.refused = { count: 0, loggedAt: now };
  }

  /** Opens an event stream: the reconnect delay, the page's token and the current state at once, then every change. */
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
    // A page still open from before a restart renews its token here (same origin only: no CORS, Host checked).
    res.write(`retry: ${RETRY_MS}\nevent: token\ndata: ${this.token}\n\n`);
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
