import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { messageOf } from '../errors.js';
import { startIdp } from './server.js';
import type { RequestEntry } from './types.js';

/** Where the CLI keeps its CA, keys and state unless `--dir` says otherwise. */
const DEFAULT_DIR = join(tmpdir(), 'kiosk-agent-idp');

const USAGE = `Usage: npm run idp -- [options]

Local identity provider (Entra-shaped, device code flow) for development, the demo and tests.
When ready it prints one JSON line on stdout: {"authority","ca_file","verification_uri","control_url"}.

Options:
  --port N               HTTPS port (default 8443; 0 = any free port)
  --host H               address to bind (default 127.0.0.1; 0.0.0.0 in a container)
  --control-port N       control API port (default 8444; 0 = any free port)
  --control-host H       control API address (default 127.0.0.1)
  --dir D                data dir: CA, keys, tenant, tokens (default ${DEFAULT_DIR})
  --hostname NAME        extra certificate name; the first one is the advertised host (repeatable)
  --tenant-id GUID       tenant id (default: persisted in the data dir, else random)
  --tenant-alias NAME    also accept NAME as the tenant path segment (repeatable)
  --verification-uri U   advertise U as the verification page (e.g. when published on another host port)
  --public-host H        the name or address phones reach this machine by (e.g. 192.168.1.20): the
                         certificate names it and the verification page (and so the QR) is advertised
                         there; bind it with --host 0.0.0.0
  --external-id          behave as Entra External ID: device codes name the global page, which refuses
                         the tenant's accounts (AADSTS500208); they sign in at /common/oauth2/deviceauth
  --global-verification-uri U
                         the global page device codes name (default https://microsoft.com/devicelogin;
                         https://127.0.0.1:8443/devicelogin reaches the local stand-in from a browser)
  --delay-ms N           wait N ms before every wire answer, as a provider across a WAN (default 0)
  --help                 show this help
`;

function port(name: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new Error(`--${name}: "${value}" is not a port from 0 to 65535`);
  return n;
}

function milliseconds(name: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 600_000) throw new Error(`--${name}: "${value}" is not a number of milliseconds from 0 to 600000`);
  return n;
}

function logRequest(e: Readonly<RequestEntry>): void {
  const parts = [e.method, e.path, e.endpoint, e.grant_type, e.code_id, e.fault ? `fault=${e.fault}` : undefined, String(e.status), e.error];
  console.error(`idp: ${parts.filter((p) => p !== undefined).join(' ')}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8443' },
      host: { type: 'string', default: '127.0.0.1' },
      'control-port': { type: 'string', default: '8444' },
      'control-host': { type: 'string', default: '127.0.0.1' },
      dir: { type: 'string', default: DEFAULT_DIR },
      hostname: { type: 'string', multiple: true, default: [] },
      'tenant-id': { type: 'string' },
      'tenant-alias': { type: 'string', multiple: true, default: [] },
      'verification-uri': { type: 'string' },
      'public-host': { type: 'string' },
      'external-id': { type: 'boolean', default: false },
      'global-verification-uri': { type: 'string' },
      'delay-ms': { type: 'string', default: '0' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const idp = await startIdp({
    host: values.host,
    port: port('port', values.port),
    controlHost: values['control-host'],
    controlPort: port('control-port', values['control-port']),
    dir: values.dir,
    hostnames: values.hostname,
    tenantId: values['tenant-id'],
    tenantAliases: values['tenant-alias'],
    verificationUri: values['verification-uri'],
    publicHost: values['public-host'],
    externalId: values['external-id'],
    globalVerificationUri: values['global-verification-uri'],
    delayMs: milliseconds('delay-ms', values['delay-ms']),
    onRequest: logRequest,
  });
  // Ready to be stopped before saying so: a supervisor may send SIGTERM as soon as it reads the line.
  const stop = (signal: string) => {
    console.error(`idp: ${signal}, stopping`);
    setTimeout(() => process.exit(1), 5000).unref();
    idp.close().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(`idp: close failed: ${messageOf(e)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  process.stdout.write(
    `${JSON.stringify({ authority: idp.authority, ca_file: idp.caFile, verification_uri: idp.verificationUri, control_url: idp.controlUrl })}\n`,
  );
  const signIn = idp.externalId
    ? `External ID mode: devices are sent to ${idp.verificationUri}, which refuses this tenant's accounts; they sign in at ${idp.tenantVerificationUri}`
    : `sign in at ${idp.verificationUri}`;
  console.error(`idp: ready; ${signIn}; control API ${idp.controlUrl}; data in ${values.dir}`);
}

main().catch((e: unknown) => {
  console.error(`idp: ${messageOf(e)}`);
  process.exit(1);
});
