import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import type { Agent, OutgoingHttpHeaders } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { startKiosk } from './kiosk.js';
import type { Kiosk, KioskOptions } from './kiosk.js';

const ROOT = new URL('../..', import.meta.url).pathname;

/** The API of the tests' app registration, and a second resource allowed by KIOSK_TOKEN_RESOURCES. */
export const API = 'api://kiosk-api';
export const GRAPH = 'https://graph.microsoft.com';
export const ENDPOINT_ENV = {
  KIOSK_TOKEN_LISTEN: '127.0.0.1:0',
  KIOSK_SCOPES: `openid profile offline_access ${API}/kiosk.read`,
  KIOSK_TOKEN_RESOURCES: `${API} ${GRAPH}`,
  // No scheduled refresh during a test: every token request the provider sees is the endpoint's.
  KIOSK_REFRESH_CRON: '0 0 1 1 *',
};

export interface TokenKiosk extends Kiosk {
  port: number;
  /** `http://127.0.0.1:<port>/msi/token`: IDENTITY_ENDPOINT. */
  endpoint: string;
  /** The content of `identity-header`: IDENTITY_HEADER. */
  secret: string;
}

/** A kiosk (provider, broker, agent) with its token endpoint on a free loopback port. */
export async function startTokenKiosk(t: TestContext, o: KioskOptions = {}): Promise<TokenKiosk> {
  const kiosk = await startKiosk(t, { ...o, env: { ...ENDPOINT_ENV, ...o.env } });
  const ready = await kiosk.agent.waitForLog((l) => l.msg === 'token endpoint for kiosk apps listening', 20_000, 'the token endpoint listening');
  const port = Number(ready.port);
  const secret = await readFile(join(kiosk.agent.dir, 'identity-header'), 'utf8');
  return Object.assign(kiosk, { port, endpoint: `http://127.0.0.1:${port}/msi/token`, secret });
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: Record<string, unknown>;
}

export interface Ask {
  path?: string;
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: string;
  agent?: Agent;
}

/** One request as a program would send it, every header under the test's control (fetch adds its own). */
export function ask(port: number, o: Ask = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: o.path ?? '/', method: o.method ?? 'GET', headers: o.headers, agent: o.agent, timeout: 15_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => {
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // not JSON: the test says so through `text`
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
    req.on('error', reject);
    req.end(o.body);
  });
}

export const tokenPath = (resource: string, version = '2019-08-01'): string =>
  `/msi/token?api-version=${encodeURIComponent(version)}&resource=${encodeURIComponent(resource)}`;

export interface GuardEntry {
  kind: 'connect' | 'dns' | 'spawn';
  host?: string;
  port?: number;
  hostname?: string;
  file?: string;
}

export interface ClientRun {
  tokens: { token: string; expires_on: number }[];
  error?: { name: string; message: string };
  /** Every connection, lookup and child process the app attempted (`test/fixtures/network-guard.mjs`). */
  guard: GuardEntry[];
  stderr: string;
}

export type ClientKind = 'identity' | 'default' | 'msal';

/**
 * A kiosk app in its own process, as an Azure SDK app runs: IDENTITY_ENDPOINT and IDENTITY_HEADER are
 * its whole environment; the network guard reports (and stops beyond loopback) whatever it reaches for.
 */
export async function runClient(t: TestContext, client: ClientKind, target: string, endpoint: string, secret: string, calls = 1): Promise<ClientRun> {
  const child = spawn(
    process.execPath,
    ['--import', join(ROOT, 'test/fixtures/network-guard.mjs'), join(ROOT, 'test/fixtures/managed-identity-client.mjs'), client, target, String(calls)],
    { cwd: ROOT, env: { IDENTITY_ENDPOINT: endpoint, IDENTITY_HEADER: secret }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await new Promise((resolve) => child.on('exit', resolve));
  clearTimeout(timer);
  const guard = stderr.split('\n').filter((l) => l.startsWith('network-guard ')).map((l) => JSON.parse(l.slice('network-guard '.length)) as GuardEntry);
  const line = stdout.trim().split('\n').at(-1) ?? '';
  let result: Pick<ClientRun, 'tokens' | 'error'>;
  try {
    result = JSON.parse(line) as Pick<ClientRun, 'tokens' | 'error'>;
  } catch {
    result = { tokens: [], error: { name: 'NoOutput', message: `the client printed no result (stderr: ${stderr.slice(-2_000)})` } };
  }
  return { ...result, guard, stderr };
}

/** The claims of a JWT, unverified (the provider's /issued list says it is one of its own). */
export const claimsOf = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

/** A kiosk-agent subcommand (`health`, `config`) run to completion. */
export function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts'), ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (e, stdout, stderr) =>
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : 1, stdout, stderr }),
    );
  });
}
