import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
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
  /**
   * `ADDRESS` or `ADDRESS:PORT` to connect to whatever the URL names, as name resolution pointing the
   * URL's host there would (and, with a port, a port forward); SNI, certificate check and Host header
   * still follow the URL.
   */
  connectTo?: string;
}

export interface PageSubmission {
  /** Status and text of the answer to the form's POST. */
  status: number;
  text: string;
  /** Where the form was posted. */
  action: string;
}

export interface SubmitOptions {
  /** `ADDRESS[:PORT]` the browser reaches for the URL's host (default: the provider's address and port). */
  connectTo?: string;
  /** Which button to press (default `approve`). */
  action?: 'approve' | 'decline';
}

export type SignInPage = 'tenant' | 'global';

export interface TestIdp {
  readonly authority: string;
  readonly tenantId: string;
  readonly caFile: string;
  /** The CA certificate (PEM), for `https.request({ ca })`. */
  readonly ca: string;
  readonly verificationUri: string;
  /** `ORIGIN/common/oauth2/deviceauth`, the tenant's own sign-in page. */
  readonly tenantVerificationUri: string;
  readonly externalId: boolean;
  readonly controlUrl: string;
  readonly port: number;
  readonly dir: string;
  /** The advertised origin, e.g. `https://127.0.0.1:PORT`, or `https://contoso.ciamlogin.com` on port 443. */
  readonly origin: string;
  /** The address the HTTPS endpoints listen on (127.0.0.1 when bound to a wildcard). */
  readonly address: string;
  /** `ADDRESS:PORT` of the HTTPS endpoints: the default `connectTo` of `wire` and `submitVerificationPage`. */
  readonly connectTo: string;
  pending(): Promise<PendingCode[]>;
  /** Resolves with the pending codes matching `predicate` as soon as there is at least one. */
  waitForPending(predicate?: (c: PendingCode) => boolean, timeoutMs?: number): Promise<PendingCode[]>;
  /** Approves through the control API, as the person would on `page` (default `tenant`); throws on refusal. */
  approve(userCode: string, user?: string, page?: SignInPage): Promise<Record<string, unknown>>;
  decline(userCode: string): Promise<Record<string, unknown>>;
  /** Merges fault settings (and runs actions such as `revoke_refresh_tokens`); returns the settings in force. */
  faults(settings: Partial<FaultSettings> & FaultActions): Promise<FaultSettings>;
  clearFaults(): Promise<FaultSettings>;
  /** Every secret issued so far, across restarts. */
  issued(): Promise<string[]>;
  requests(): Promise<RequestEntry[]>;
  /** Low-level control API call: status and parsed JSON body. */
  control(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /**
   * A request to the HTTPS endpoints (path relative to the origin, or a full URL), trusting the CA. It
   * connects to the provider's address whatever the URL names (`connectTo` to change that).
   */
  wire(path: string, init?: WireInit): Promise<WireResponse>;
  /** `submitVerificationPage` with this provider's CA, connecting to its address unless told otherwise. */
  submitVerificationPage(url: string, userCode: string, user: string, options?: SubmitOptions): Promise<PageSubmission>;
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
  let idp: Idp | undefined = await startIdp({ ...options, dir }).catch(async (e: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw e;
  });
  const first = idp;
  const ca = await readFile(first.caFile, 'utf8');
  const host = options.host ?? '127.0.0.1';
  const address = ['', '0.0.0.0', '::', '[::]'].includes(host) ? '127.0.0.1' : host.replace(/^\[(.*)\]$/, '$1');
  const connectTo = `${isIP(address) === 6 ? `[${address}]` : address}:${first.port}`;
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
    tenantVerificationUri: first.tenantVerificationUri,
    externalId: first.externalId,
    controlUrl: first.controlUrl,
    port: first.port,
    dir,
    origin: new URL(first.authority).origin,
    address,
    connectTo,
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
    approve: (userCode, user, page) => ok('POST', 'approve', { user_code: userCode, ...(user === undefined ? {} : { user }), ...(page === undefined ? {} : { page }) }),
    decline: (userCode) => ok('POST', 'decline', { user_code: userCode }),
    faults: (settings) => ok('POST', 'faults', settings),
    clearFaults: () => ok('DELETE', 'faults'),
    async issued() {
      const current = idp === undefined ? [] : (await ok<{ tokens: string[] }>('GET', 'issued')).tokens;
      return [...new Set([...earlierIssued, ...current])];
    },
    requests: () => ok('GET', 'requests'),
    control,
    wire: (path, init = {}) => wire(new URL(path, first.authority).href, ca, { connectTo, ...init }),
    submitVerificationPage: (url, userCode, user, o = {}) => submitVerificationPage(url, userCode, user, { ca, connectTo, ...o }),
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

/** A resolver that answers every name with `address`, as an `/etc/hosts` entry pointing the name there would. */
export function fixedLookup(address: string): LookupFunction {
  const family = isIP(address) === 6 ? 6 : 4;
  return (_hostname, options, callback) => {
    if (options.all) (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

/** One HTTPS request trusting `ca`, to `connectTo` when given; SNI and certificate check follow the URL's host. */
export function wire(url: string, ca: string, init: WireInit = {}): Promise<WireResponse> {
  const body = init.form === undefined ? undefined : new URLSearchParams(init.form).toString();
  const target = init.connectTo === undefined ? undefined : new URL(`https://${init.connectTo}`);
  const headers: Record<string, string> = { ...(target?.port ? { host: new URL(url).host } : {}), ...init.headers };
  if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  const method = init.method ?? (body === undefined ? 'GET' : 'POST');
  const lookup = target && fixedLookup(target.hostname.replace(/^\[(.*)\]$/, '$1'));
  const port = target?.port || undefined;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, headers, agent: false, servername: init.servername, lookup, port }, (res) => {
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

const decodeEntities = (s: string): string =>
  s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] ?? '');

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([a-zA-Z][\w-]*)(?:="([^"]*)")?/g)) out[(m[1] ?? '').toLowerCase()] = decodeEntities(m[2] ?? '');
  return out;
}

/**
 * Signs in on a verification page over HTTPS as a browser would: GET `url` (SNI and certificate check
 * for its host, connecting to `connectTo` as name resolution pointing there would), then POST its form
 * with the code typed in, `user` picked among the page's choices and the `action` button pressed.
 * Throws when the page has no such form, user or button (a person could not submit it either).
 */
export async function submitVerificationPage(
  url: string,
  userCode: string,
  user: string,
  options: SubmitOptions & { ca: string },
): Promise<PageSubmission> {
  const page = await wire(url, options.ca, { connectTo: options.connectTo });
  if (page.status !== 200) throw new Error(`GET ${url}: ${page.status} ${page.text.slice(0, 200)}`);
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(page.text);
  if (form === null) throw new Error(`GET ${url}: no form on the page`);
  const formAttrs = attributes(form[1] ?? '');
  if ((formAttrs.method ?? 'get').toLowerCase() !== 'post') throw new Error(`GET ${url}: the form is not a POST form`);
  const fields = new URLSearchParams();
  const users: string[] = [];
  for (const m of (form[2] ?? '').matchAll(/<input\b([^>]*)>/gi)) {
    const a = attributes(m[1] ?? '');
    if (a.name === undefined) continue;
    if (a.type === 'radio') {
      if (a.name === 'user') users.push(a.value ?? '');
      else if ('checked' in a) fields.append(a.name, a.value ?? '');
    } else if (a.name !== 'user_code') fields.append(a.name, a.value ?? '');
    else fields.set('user_code', userCode);
  }
  if (!fields.has('user_code')) throw new Error(`GET ${url}: the form has no user_code field`);
  if (!users.includes(user)) throw new Error(`GET ${url}: the form offers no user "${user}" (it offers ${users.join(', ')})`);
  fields.set('user', user);
  const press = options.action ?? 'approve';
  const button = [...(form[2] ?? '').matchAll(/<button\b([^>]*)>/gi)].map((m) => attributes(m[1] ?? '')).find((a) => a.value === press);
  if (button?.name === undefined) throw new Error(`GET ${url}: no "${press}" button on the form`);
  fields.set(button.name, press);
  const action = new URL(formAttrs.action ?? '', url).href;
  const answer = await wire(action, options.ca, { connectTo: options.connectTo, form: Object.fromEntries(fields) });
  return { status: answer.status, text: answer.text, action };
}

const ROOT = new URL('../..', import.meta.url).pathname;

/** True when this process may make a private mount namespace (root with CAP_SYS_ADMIN and `unshare`). */
export const canMountNamespace = (): boolean =>
  process.getuid?.() === 0 && spawnSync('unshare', ['--mount', '--propagation', 'private', 'true'], { stdio: 'ignore' }).status === 0;

/**
 * A command prefix (for `spawn`, or `spawnAgent`'s `wrap`) that runs a program with an `/etc/hosts` of
 * its own: `names` resolve to `address` inside a private mount namespace, nowhere else. The program is
 * exec'd, so the pid stays its own. Needs `canMountNamespace()`.
 */
export async function privateHosts(dir: string, address: string, names: readonly string[]): Promise<string[]> {
  const file = join(dir, `hosts-${names.length}-${address}`);
  await writeFile(file, `127.0.0.1 localhost\n::1 localhost\n${names.map((n) => `${address} ${n}`).join('\n')}\n`);
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', file];
}

export interface MsalRun {
  code: number | null;
  /** The fixture's events by name: `code`, `signed_in`, `refreshed` or `error`. */
  events: Record<string, Record<string, unknown>>;
  stderr: string;
}

/**
 * Runs the real `@azure/msal-node` device-code fixture (sign-in, then a forced silent refresh) in a child
 * trusting the provider's CA, optionally under `wrap` (e.g. `privateHosts`); `onCode` gets the code event.
 */
export async function runMsalDeviceCode(
  t: TestContext,
  idp: TestIdp,
  authority: string,
  clientId: string,
  onCode: (event: Record<string, unknown>) => Promise<void>,
  wrap: readonly string[] = [],
): Promise<MsalRun> {
  const [command, ...prefix] = [...wrap, process.execPath];
  const child = spawn(command ?? process.execPath, [...prefix, '--import', 'tsx', 'test/fixtures/msal-device-code.ts', authority, clientId], {
    cwd: ROOT,
    env: { ...process.env, NODE_EXTRA_CA_CERTS: idp.caFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const events: Record<string, Record<string, unknown>> = {};
  for await (const line of createInterface({ input: child.stdout })) {
    const event = JSON.parse(line) as Record<string, unknown>;
    events[String(event.event)] = event;
    if (event.event === 'code') await onCode(event);
  }
  return { code: await exited, events, stderr };
}
