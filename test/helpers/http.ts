import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RawRequest {
  method?: string;
  /** Sent exactly as given; `host: undefined` sends no Host header at all. */
  headers?: Record<string, string | undefined>;
  body?: string;
}

/**
 * One HTTP request to 127.0.0.1 with exactly the path and headers given (no normalising, unlike fetch
 * or a browser): a forged Host or Origin as an attacker would send it. An event stream is cut after
 * its headers.
 */
export function rawRequest(port: number, path: string, o: RawRequest = {}): Promise<Reply> {
  const given = o.headers ?? {};
  const headers = Object.fromEntries(Object.entries(given).filter((e): e is [string, string] => e[1] !== undefined));
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', agent: false, setHost: !('host' in given), headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      if (String(res.headers['content-type']).startsWith('text/event-stream')) res.destroy();
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** The kiosk page's token for its POSTs, read from the page as a script on that page would. */
export async function pageToken(port: number): Promise<string | undefined> {
  return /<meta name="csrf" content="([\w-]+)">/.exec((await rawRequest(port, '/')).body)?.[1];
}
