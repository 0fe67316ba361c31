import { rmSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PendingCode } from '../../src/idp/device-flow.js';
import type { FaultActions, FaultSettings } from '../../src/idp/faults.js';
import { loadOrCreateSigningKeys } from '../../src/idp/keys.js';
import { loadOrCreatePki } from '../../src/idp/pki.js';
import { startIdp } from '../../src/idp/server.js';
import type { Idp, IdpOptions, RequestEntry } from '../../src/idp/types.js';

export type { PendingCode } from '../../src/idp/device-flow.js';
export type { FaultSettings } from '../../src/idp/faults.js';
export type { RequestEntry } from '../../src/idp/types.js';

export interface WireResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: Record<string, unknown>;
}

export interface WireInit {
  method?: string;
  form?: Record<string, string>;
  headers?: Record<string, string>;
  /** TLS server name to verify (defaults to the Host header's name, else the URL's host). */
  servername?: string;
}

export interface TestIdp {
  readonly authority: string;
  readonly tenantId: string;
  readonly caFile: string;
  /** The CA certificate (PEM), for `https.request({ ca })`. */
  readonly ca: string;
  readonly verificationUri: string;
  readonly controlUrl: string;
  readonly port: number;
  readonly dir: string;
  /** `https://127.0.0.1:PORT` */
  readonly origin: string;
  pending(): Promise<PendingCode[]>;
  /** Resolves with the pending codes matching `predicate` as soon as there is at least one. */
  waitForPending(predicate?: (c: PendingCode) => boolean, timeoutMs?: number): Promise<PendingCode[]>;
  approve(userCode: string, user?: string): Promise<Record<string, unknown>>;
  decline(userCode: string): Promise<Record<string, unknown>>;
  /** Merges fault settings (and runs actions such as `revoke_refresh_tokens`); returns the settings in force. */
  faults(settings: Partial<FaultSettings> & FaultActions): Promise<FaultSettings>;
  clearFaults(): Promise<FaultSettings>;
  /** Every secret issued so far, across restarts. */
  issued(): Promise<string[]>;
  requests(): Promise<RequestEntry[]>;
  /** Low-level control API call: status and parsed JSON body. */
  control(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** A request to the HTTPS endpoints (path relative to the origin, or a full URL), trusting the CA. */
  wire(path: string, init?: WireInit): Promise<WireResponse>;
  /** Stops the provider; `start()` brings it back on the same ports and dir. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** `stop()` then `start()`. */
  restart(): Promise<void>;
  /** Stops the provider and removes its dir. */
  close(): Promise<void>;
}

const KEY_FILES = ['ca.pem', 'ca-key.pem', 'server.pem', 'server-key.pem', 'signing-key.json'];
let keyTemplate: Promise<string> | undefined;

/**
 * RSA key generation is the slow part of a fresh start, so the providers of one test process share one
 * CA, server certificate and signing key (made once, copied into each fresh dir); each still gets its
 * own tenant, users and tokens.
 */
function sharedKeys(): Promise<string> {
  keyTemplate ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiosk-idp-keys-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    await Promise.all([loadOrCreatePki(dir, ['127.0.0.1', 'localhost']), loadOrCreateSigningKeys(dir)]);
    return dir;
  })();
  return keyTemplate;
}

/** Starts an in-process local identity provider in a fresh temp dir on free ports. */
export async function startTestIdp(options: Omit<IdpOptions, 'dir'> = {}): Promise<TestIdp> {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-idp-test-'));
  const keys = await sharedKeys();
  await Promise.all(KEY_FILES.map((f) => copyFile(join(keys, f), join(dir, f))));
  let idp: Idp | undefined = await startIdp({ ...options, dir });
  const first = idp;
  const ca = await readFile(first.caFile, 'utf8');
  const earlierIssued = new Set<string>();

  async function control(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const send = () =>
      fetch(new URL(path, first.controlUrl), {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    // After a restart the first call may pick a pooled connection the old server closed: one retry.
    const res = await send().catch(send);
    return { status: res.status, body: (await res.json()) as unknown };
  }
  async function ok<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await control(method, path, body);
    if (res.status !== 200) throw new Error(`control ${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as T;
  }
  async function stop(): Promise<void> {
    if (idp === undefined) return;
    for (const s of (await ok<{ tokens: string[] }>('GET', 'issued')).tokens) earlierIssued.add(s);
    await idp.close();
    idp = undefined;
  }
  async function start(): Promise<void> {
    if (idp !== undefined) return;
    idp = await startIdp({ ...options, dir, port: first.port, controlPort: first.controlPort });
  }

  const self: TestIdp = {
    authority: first.authority,
    tenantId: first.tenantId,
    caFile: first.caFile,
    ca,
    verificationUri: first.verificationUri,
    controlUrl: first.controlUrl,
    port: first.port,
    dir,
    origin: new URL(first.authority).origin,
    pending: () => ok('GET', 'pending'),
    async waitForPending(predicate = () => true, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const codes = (await self.pending()).filter(predicate);
        if (codes.length > 0) return codes;
        if (Date.now() > deadline) throw new Error(`no matching pending device code within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    approve: (userCode, user) => ok('POST', 'approve', user === undefined ? { user_code: userCode } : { user_code: userCode, user }),
    decline: (userCode) => ok('POST', 'decline', { user_code: userCode }),
    faults: (settings) => ok('POST', 'faults', settings),
    clearFaults: () => ok('DELETE', 'faults'),
    async issued() {
      const current = idp === undefined ? [] : (await ok<{ tokens: string[] }>('GET', 'issued')).tokens;
      return [...new Set([...earlierIssued, ...current])];
    },
    requests: () => ok('GET', 'requests'),
    control,
    wire: (path, init = {}) => wire(new URL(path, first.authority).href, ca, init),
    stop,
    start,
    async restart() {
      await stop();
      await start();
    },
    async close() {
      await idp?.close();
      idp = undefined;
      await rm(dir, { recursive: true, force: true });
    },
  };
  return self;
}

function wire(url: string, ca: string, init: WireInit): Promise<WireResponse> {
  const body = init.form === undefined ? undefined : new URLSearchParams(init.form).toString();
  const headers: Record<string, string> = { ...init.headers };
  if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), ca, headers, agent: false, servername: init.servername }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: WireResponse['json'] = {};
        try {
          json = JSON.parse(text) as WireResponse['json'];
        } catch {
          // not JSON: `text` has it
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
