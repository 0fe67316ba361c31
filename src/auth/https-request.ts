import { request as plainRequest } from 'node:http';
import type { Agent, IncomingHttpHeaders } from 'node:http';
import { request as tlsRequest } from 'node:https';

export interface HttpRequest {
  readonly method: 'GET' | 'POST';
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** The caller's keep-alive pool, of the URL's scheme (an `https.Agent` for https:). */
  readonly agent: Agent;
  /** For the whole exchange: connect, TLS handshake, headers and body. */
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly signal: AbortSignal;
  /** Called once the request is on the wire (its TLS handshake done): from then on only its answer is awaited. */
  readonly onSent?: () => void;
}

export interface HttpAnswer {
  readonly status: number;
  /** Lower-case names; a repeated header's values joined with `, `. */
  readonly headers: Record<string, string>;
  readonly text: string;
}

export class HttpTimeoutError extends Error {
  override readonly name = 'HttpTimeoutError';
}

export class AnswerTooLargeError extends Error {
  override readonly name = 'AnswerTooLargeError';
  /** Status and headers still tell something (a 503's Retry-After); the text is left empty. */
  constructor(readonly answer: HttpAnswer) {
    super('the answer is larger than allowed');
  }
}

/**
 * One request over `node:http(s)`, already loaded by Node, where `fetch` would load undici at boot.
 * Redirects are not followed (nor are they by MSAL's own clients). Settles once; on failure the
 * request and its socket are destroyed, so a broken connection never returns to the pool.
 */
export function httpsRequest(url: string, r: HttpRequest): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    if (r.signal.aborted) return reject(r.signal.reason);
    let settled = false;
    const onAbort = (): void => fail(r.signal.reason);
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      r.signal.removeEventListener('abort', onAbort);
      return true;
    };
    const fail = (error: unknown): void => {
      if (!settle()) return;
      req.destroy();
      reject(error);
    };
    const send = new URL(url).protocol === 'http:' ? plainRequest : tlsRequest;
    const req = send(url, { method: r.method, headers: r.headers, agent: r.agent }, (res) => {
      const tooLarge = (): void => fail(new AnswerTooLargeError({ status: res.statusCode ?? 0, headers: flatten(res.headers), text: '' }));
      if (Number(res.headers['content-length']) > r.maxBytes) return tooLarge();
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > r.maxBytes) tooLarge();
        else chunks.push(chunk);
      });
      res.on('error', fail);
      res.on('close', () => fail(Object.assign(new Error('connection closed before the answer was complete'), { code: 'ECONNRESET' })));
      res.on('end', () => {
        // TextDecoder drops a leading BOM, as fetch's `text()` did; JSON.parse would fail on it.
        if (settle()) resolve({ status: res.statusCode ?? 0, headers: flatten(res.headers), text: new TextDecoder().decode(Buffer.concat(chunks)) });
      });
    });
    req.on('error', fail);
    if (r.onSent) req.once('finish', r.onSent);
    const timer = setTimeout(() => fail(new HttpTimeoutError(`no answer within ${r.timeoutMs} ms`)), r.timeoutMs);
    r.signal.addEventListener('abort', onAbort, { once: true });
    // With the whole body given to `end`, Node sends Content-Length rather than chunked encoding.
    req.end(r.body);
  });
}

function flatten(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}
