import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIPv6 } from 'node:net';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { TENANT_PAGE_PATH, verificationUriFor } from './context.js';
import type { IdpContext } from './context.js';
import { controlHandler } from './control.js';
import { Faults } from './faults.js';
import { loadOrCreateSigningKeys } from './keys.js';
import { loadOrCreatePki } from './pki.js';
import { providerHandler } from './provider.js';
import { RequestLog } from './request-log.js';
import { Store } from './store.js';
import type { Idp, IdpOptions } from './types.js';

export type { Idp, IdpOptions } from './types.js';

const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]']);
const urlHost = (name: string): string => (isIPv6(name) ? `[${name}]` : name);
/** `https://HOST:PORT`, without `:443` as real Entra URLs are written. */
const httpsOrigin = (name: string, port: number): string => `https://${urlHost(name)}${port === 443 ? '' : `:${port}`}`;
export const DEFAULT_GLOBAL_VERIFICATION_URI = 'https://microsoft.com/devicelogin';

/** The global page of External ID mode, checked: an absolute https URL, and only with `externalId`. */
function globalPageOf(options: IdpOptions): string {
  const given = options.globalVerificationUri;
  if (given !== undefined && !options.externalId)
    throw new Error('globalVerificationUri (--global-verification-uri) applies only in External ID mode: add externalId (--external-id)');
  if (options.externalId && options.verificationUri !== undefined)
    throw new Error('in External ID mode the device-code answer names the global page: use globalVerificationUri (--global-verification-uri) instead of verificationUri');
  const uri = given ?? DEFAULT_GLOBAL_VERIFICATION_URI;
  if (!URL.canParse(uri) || new URL(uri).protocol !== 'https:')
    throw new Error(`globalVerificationUri "${uri}" is not an absolute https URL, e.g. ${DEFAULT_GLOBAL_VERIFICATION_URI}`);
  return uri;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolveListen((server.address() as AddressInfo).port);
    });
  });
}

function shut(server: Server): Promise<void> {
  return new Promise((done) => {
    if (!server.listening) return done();
    server.close(() => done());
    server.closeAllConnections();
  });
}

/**
 * Starts the local identity provider: Entra's wire endpoints over HTTPS (certificate from a CA kept in
 * `dir`) and the JSON control API over plain HTTP. Restarting on the same dir and port keeps the CA, the
 * signing key, the tenant id and the refresh tokens.
 */
export async function startIdp(options: IdpOptions): Promise<Idp> {
  const host = options.host ?? '127.0.0.1';
  const controlHost = options.controlHost ?? '127.0.0.1';
  const externalId = options.externalId === true;
  const globalVerificationUri = globalPageOf(options); // checked before anything is written
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const extra = (options.hostnames ?? []).map((n) => n.toLowerCase().replace(/^\[(.*)\]$/, '$1'));
  const ownHost = WILDCARDS.has(host) ? [] : [host.toLowerCase().replace(/^\[(.*)\]$/, '$1')];
  const advertised = extra[0] ?? ownHost[0] ?? '127.0.0.1';
  const publicHost = options.publicHost?.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (publicHost !== undefined && !/^[a-z0-9.:-]+$/.test(publicHost)) throw new Error(`publicHost "${options.publicHost}" is not a host name or IP address, e.g. 192.168.1.20`);
  const names = [...new Set([advertised, ...ownHost, ...extra, ...(publicHost === undefined ? [] : [publicHost]), '127.0.0.1', 'localhost'])];
  // The certificate also names the global page's host, so that a browser (or test) whose name
  // resolution sends that host here reaches the stand-in page with TLS verified. It is not one of
  // the names the advertised origin follows: the wire endpoints never answer as that host.
  const globalHost = new URL(globalVerificationUri).hostname.replace(/^\[(.*)\]$/, '$1');
  const certNames = externalId && !names.includes(globalHost) ? [...names, globalHost] : names;

  const store = Store.open(dir, options.tenantId);
  const [pki, keys] = await Promise.all([loadOrCreatePki(dir, certNames), loadOrCreateSigningKeys(dir)]);
  const faults = new Faults({
    deviceCodeExpiresIn: options.deviceCodeExpiresIn ?? 900,
    deviceCodeInterval: options.deviceCodeInterval ?? 5,
    accessTokenExpiresIn: options.accessTokenExpiresIn ?? 3600,
    delayMs: options.delayMs ?? 0,
  });
  let port = 0;
  const ctx: IdpContext = {
    store,
    keys,
    faults,
    log: new RequestLog(options.onRequest),
    names: new Set(names),
    primaryOrigin: () => httpsOrigin(advertised, port),
    // Known once the server listens, so read when a device-code answer is made.
    get verificationUri() {
      return options.verificationUri ?? (publicHost === undefined ? undefined : `${httpsOrigin(publicHost, port)}/device`);
    },
    tenantAliases: new Set((options.tenantAliases ?? []).map((a) => a.toLowerCase())),
    externalId,
    globalVerificationUri,
    foreignTenantId: randomUUID(),
  };
  const authority = () => `${ctx.primaryOrigin()}/${store.tenantId}/`;

  const wire = createHttpsServer({ key: pki.keyPem, cert: pki.certPem }, providerHandler(ctx));
  const control = createHttpServer(controlHandler(ctx, authority));
  port = await listen(wire, options.port ?? 0, host);
  let controlPort: number;
  try {
    controlPort = await listen(control, options.controlPort ?? 0, controlHost);
  } catch (e) {
    await shut(wire);
    throw e;
  }

  let closing: Promise<void> | undefined;
  return {
    authority: authority(),
    tenantId: store.tenantId,
    caFile: pki.caFile,
    verificationUri: verificationUriFor(ctx, ctx.primaryOrigin()),
    tenantVerificationUri: `${ctx.primaryOrigin()}${TENANT_PAGE_PATH}`,
    externalId,
    controlUrl: `http://${urlHost(WILDCARDS.has(controlHost) ? '127.0.0.1' : controlHost)}:${controlPort}/`,
    port,
    controlPort,
    close: () => (closing ??= Promise.all([shut(wire), shut(control)]).then(() => store.flush())),
  };
}
