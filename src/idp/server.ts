import { mkdirSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIPv6 } from 'node:net';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
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
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const extra = (options.hostnames ?? []).map((n) => n.toLowerCase().replace(/^\[(.*)\]$/, '$1'));
  const ownHost = WILDCARDS.has(host) ? [] : [host.toLowerCase().replace(/^\[(.*)\]$/, '$1')];
  const advertised = extra[0] ?? ownHost[0] ?? '127.0.0.1';
  const names = [...new Set([advertised, ...ownHost, ...extra, '127.0.0.1', 'localhost'])];

  const store = Store.open(dir, options.tenantId);
  const [pki, keys] = await Promise.all([loadOrCreatePki(dir, names), loadOrCreateSigningKeys(dir)]);
  const faults = new Faults({
    deviceCodeExpiresIn: options.deviceCodeExpiresIn ?? 900,
    deviceCodeInterval: options.deviceCodeInterval ?? 5,
    accessTokenExpiresIn: options.accessTokenExpiresIn ?? 3600,
  });
  let port = 0;
  const ctx: IdpContext = {
    store,
    keys,
    faults,
    log: new RequestLog(options.onRequest),
    names: new Set(names),
    primaryOrigin: () => `https://${urlHost(advertised)}:${port}`,
    verificationUri: options.verificationUri,
    tenantAliases: new Set((options.tenantAliases ?? []).map((a) => a.toLowerCase())),
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
    verificationUri: options.verificationUri ?? `${ctx.primaryOrigin()}/device`,
    controlUrl: `http://${urlHost(WILDCARDS.has(controlHost) ? '127.0.0.1' : controlHost)}:${controlPort}/`,
    port,
    controlPort,
    close: () => (closing ??= Promise.all([shut(wire), shut(control)]).then(() => store.flush())),
  };
}
