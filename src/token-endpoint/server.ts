import { createServer, STATUS_CODES } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Backoff } from '../backoff.js';
import type { TokenEndpointSlice } from '../config.js';
import { errnoCode, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { TokenBucket } from '../mqtt/token-bucket.js';
import { checkRequest, hostRule, refuse } from './checks.js';
import type { CheckContext, Refusal } from './checks.js';
import { HeaderSecret, IDENTITY_HEADER_FILE } from './secret.js';
import { TokenService } from './service.js';
import type { Answer, ServiceDeps } from './service.js';
import { closeServer } from '../server-close.js';

export interface EndpointLimits {
  /** Requests at once beyond the steady rate, and the steady rate per second (every request counts). */
  readonly burst: number;
  readonly perSecond: number;
  readonly maxConnections: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Request line and headers together. */
  readonly maxHeaderBytes: number;
}

export const DEFAULT_LIMITS: EndpointLimits = {
  burst: 60, perSecond: 20, maxConnections: 32, headersTimeoutMs: 5_000, requestTimeoutMs: 10_000, maxHeaderBytes: 8_192,
};

export interface EndpointStatus {
  readonly state: 'starting' | 'listening' | 'failed';
  /** `HOST:PORT` as configured (the port chosen once listening). */
  readonly address: string;
  /** errno code of the last failure to start (EADDRINUSE, EACCES, EROFS, …). */
  readonly error?: string;
}

export interface TokenEndpointDeps extends Omit<ServiceDeps, 'scopes' | 'clientId' | 'now'> {
  readonly config: TokenEndpointSlice;
  readonly log: Logger;
  readonly now?: () => number;
  readonly limits?: Partial<EndpointLimits>;
  /** Told when `status()` changes (failed to start, or listening): the status file records it. */
  readonly onStatus?: () => void;
}

const HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', Pragma: 'no-cache', 'X-Content-Type-Options': 'nosniff' };
const CLOSE_WAIT_MS = 1_000;
const MAX_DISCARDED_BODY = 1 << 20;
/** Floods (rate limit, connection cap) are logged at most this often, with a count. */
const FLOOD_LOG_MS = 1_000;

/**
 * CONTRACT §8: the App Service managed-identity protocol on KIOSK_TOKEN_LISTEN, for kiosk apps. Writes the
 * header secret for them, then listens; a start that fails (port taken, state dir unwritable) is logged
 * and retried with backoff, and shows in `kiosk-agent health`, never stopping sign-in. Every refusal is
 * a JSON answer and one log line; no secret or token is ever logged.
 */
export class TokenEndpoint {
  private readonly log: Logger;
  private readonly limits: EndpointLimits;
  private readonly secret: HeaderSecret;
  private readonly service: TokenService;
  private readonly bucket: TokenBucket;
  private readonly backoff = new Backoff({ initialMs: 1_000, maxMs: 30_000 });
  private server?: Server;
  private retry?: NodeJS.Timeout;
  private stopped = false;
  private current: EndpointStatus;
  private ctx?: CheckContext;
  private readonly floods = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly d: TokenEndpointDeps) {
    const { config } = d;
    const now = d.now ?? Date.now;
    this.log = d.log.child({ module: 'token-endpoint' });
    this.limits = { ...DEFAULT_LIMITS, ...d.limits };
    this.secret = new HeaderSecret(config.tokenEndpoint.secret);
    this.bucket = new TokenBucket(this.limits.burst, this.limits.perSecond, now);
    this.service = new TokenService({ ...d, scopes: config.scopes, clientId: config.clientId, now });
    this.current = { state: 'starting', address: address(config.tokenEndpoint.host, config.tokenEndpoint.port) };
  }

  status(): EndpointStatus {
    return this.current;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.attempt();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const server = this.server;
    this.server = undefined;
    await closeServer(server, CLOSE_WAIT_MS);
  }

  private async attempt(): Promise<void> {
    const { host, port } = this.d.config.tokenEndpoint;
    try {
      const file = await this.secret.write(this.d.config.stateDir);
      const server = await this.listen(host, port);
      if (this.stopped) return void server.close();
      this.server = server;
      const bound = (server.address() as AddressInfo).port;
      this.ctx = { hostAllowed: hostRule(host, bound), secret: this.secret, resources: new Set(this.d.config.tokenEndpoint.resources), secretFile: file };
      this.current = { state: 'listening', address: address(host, bound) };
      this.backoff.reset();
      this.d.onStatus?.();
      this.log.info({ url: `http://${address(host, bound)}/msi/token`, port: bound, secret_file: file, resources: this.d.config.tokenEndpoint.resources }, 'token endpoint for kiosk apps listening');
      if (!isLoopback(host))
        this.log.warn({ host }, 'the token endpoint listens beyond loopback: whatever reaches this address and knows the header secret gets tokens; prefer 127.0.0.1 (KIOSK_TOKEN_LISTEN)');
    } catch (e) {
      const code = errnoCode(e);
      const delay = this.backoff.next();
      this.current = { state: 'failed', address: address(host, port), error: code };
      this.d.onStatus?.();
      this.log.error({ code, err: messageOf(e), address: this.current.address, file: IDENTITY_HEADER_FILE, retry_in_ms: delay }, 'token endpoint cannot start; retrying');
      if (!this.stopped) {
        this.retry = setTimeout(() => void this.attempt(), delay);
        this.retry.unref();
      }
    }
  }

  private listen(host: string, port: number): Promise<Server> {
    const { headersTimeoutMs, requestTimeoutMs, maxHeaderBytes, maxConnections } = this.limits;
    // requireHostHeader off: a request without Host gets this endpoint's own 403, not Node's bare 400.
    const server = createServer({ headersTimeout: headersTimeoutMs, requestTimeout: requestTimeoutMs, maxHeaderSize: maxHeaderBytes, requireHostHeader: false }, (req, res) =>
      this.handle(req, res),
    );
    server.maxConnections = maxConnections;
    server.keepAliveTimeout = 5_000;
    server.on('clientError', (e, socket) => this.onClientError(e, socket));
    server.on('drop', () => this.flood('connections', 'token endpoint connection refused: too many open connections', { max: maxConnections }));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        server.on('error', (e) => this.log.error({ err: messageOf(e) }, 'token endpoint server error'));
        resolve(server);
      });
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (!this.bucket.take()) {
      this.flood('rate', 'token request refused: rate limit', { status: 429, burst: this.limits.burst, per_second: this.limits.perSecond });
      return send(res, { status: 429, body: { error: 'rate_limited', error_description: 'too many requests; retry later' }, headers: { 'Retry-After': '1' } });
    }
    const checked = this.ctx ? checkRequest(req, this.ctx) : refuse(503, 'starting', 'the endpoint is starting');
    if (!('route' in checked)) return this.refuse(req, res, checked);
    this.service.answer(checked).then(
      (answer) => {
        if (answer.status !== 200) this.logRefusal(req, answer.status, String(answer.body.error));
        send(res, answer);
      },
      (e: unknown) => {
        this.log.error({ err: messageOf(e), path: pathOf(req) }, 'token request failed unexpectedly');
        send(res, { status: 500, body: { error: 'internal_error', error_description: 'the agent could not answer; retry later' } });
      },
    );
  }

  private refuse(req: IncomingMessage, res: ServerResponse, r: Refusal): void {
    this.logRefusal(req, r.status, r.error);
    if (r.status === 413) {
      // Answered at once; the body is read and dropped behind the answer (the connection stays usable), and
      // past 1 MiB the connection is cut.
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_DISCARDED_BODY) req.socket.destroy();
      });
    }
    send(res, { status: r.status, body: { error: r.error, error_description: r.description }, headers: r.headers });
  }

  private logRefusal(req: IncomingMessage, status: number, error: string): void {
    const level = status === 401 || status === 403 ? 'warn' : 'info';
    this.log[level]({ status, error, method: short(req.method ?? ''), path: pathOf(req) }, 'token request refused');
  }

  /** Malformed HTTP, oversized headers, a request that took too long: answered on the raw socket. */
  private onClientError(e: NodeJS.ErrnoException, socket: Duplex): void {
    const r =
      e.code === 'HPE_HEADER_OVERFLOW' ? refuse(431, 'headers_too_large', `the request line and headers exceed ${this.limits.maxHeaderBytes} bytes`)
      : e.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? refuse(408, 'request_timeout', 'the request took too long to arrive')
      : refuse(400, 'bad_request', 'the request is not valid HTTP/1.1');
    if (e.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    this.flood(`client-${r.status}`, 'token request refused', { status: r.status, error: r.error });
    const body = JSON.stringify({ error: r.error, error_description: r.description });
    socket.end(`HTTP/1.1 ${r.status} ${STATUS_CODES[r.status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }

  /** One log line per second at most for a kind of flood, saying how many were left out. */
  private flood(kind: string, msg: string, fields: Record<string, unknown>): void {
    const now = (this.d.now ?? Date.now)();
    const last = this.floods.get(kind);
    if (last && now - last.at < FLOOD_LOG_MS) return void (last.suppressed += 1);
    this.log.info({ ...fields, suppressed: last?.suppressed ?? 0 }, msg);
    this.floods.set(kind, { at: now, suppressed: 0 });
  }
}

function send(res: ServerResponse, a: Answer): void {
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(`${JSON.stringify(a.body)}\n`, 'utf8');
  res.writeHead(a.status, { ...HEADERS, ...a.headers, 'Content-Length': String(body.length) });
  res.end(body);
}

const address = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;
const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || host.startsWith('127.');
/** The path without its query (never the query: nothing secret is in it, but it is the caller's text), cut short. */
const pathOf = (req: IncomingMessage): string => short((req.url ?? '').split('?', 1)[0] ?? '');
const short = (text: string): string => (text.length > 100 ? `${text.slice(0, 100)}…` : text);
