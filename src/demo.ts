/**
 * `npm run demo`: the local identity provider, an MQTT broker and the agent with the terminal
 * display, all on this machine. Approve the code in a browser; Ctrl-C (or closing the terminal) stops
 * everything. Run it again and the kiosk signs in silently: the provider keeps its port, and so its
 * authority, from one run to the next (KIOSK_DEMO_DIR/ports.json), which is what the token cache is kept under.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIdp } from './idp/server.js';
import type { Idp } from './idp/server.js';

const DIR = process.env.KIOSK_DEMO_DIR ?? join(tmpdir(), 'kiosk-agent-demo');
const PORTS_FILE = join(DIR, 'ports.json');
/** The provider's ports on a first run; another free pair when these are taken, kept for the next runs. */
const FIRST_PORTS = { idp: 48443, control: 48444 };
const say = (line = ''): boolean => process.stderr.write(`${line}\n`);
/**
 * `npm run demo -- --public-host 192.168.1.20`: a phone on the same network scans the QR and signs in; the
 * provider then listens on every address of this machine (its control API stays on 127.0.0.1).
 */
const publicHost = ((i) => (i < 0 ? undefined : process.argv[i + 1]))(process.argv.indexOf('--public-host'));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function savedPorts(): { idp: number; control: number } {
  try {
    const saved = JSON.parse(readFileSync(PORTS_FILE, 'utf8')) as { idp?: unknown; control?: unknown };
    if (Number.isInteger(saved.idp) && Number.isInteger(saved.control)) return saved as { idp: number; control: number };
  } catch {
    // none yet, or unreadable: the first ports
  }
  return FIRST_PORTS;
}

/** The provider on the ports of the last run (a stable authority); on free ones when those are taken. */
async function startProvider(): Promise<{ idp: Idp; moved: boolean }> {
  const ports = savedPorts();
  const options = { dir: join(DIR, 'idp'), ...(publicHost === undefined ? {} : { publicHost, host: '0.0.0.0' }) };
  let idp: Idp;
  let moved = false;
  try {
    idp = await startIdp({ ...options, port: ports.idp, controlPort: ports.control });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    idp = await startIdp({ ...options, port: 0, controlPort: 0 });
    moved = true;
  }
  writeFileSync(PORTS_FILE, `${JSON.stringify({ idp: idp.port, control: idp.controlPort })}\n`);
  return { idp, moved };
}

/** Mosquitto when it is installed; the agent carries on without a broker otherwise. */
async function startBroker(): Promise<{ url: string; process: ChildProcess } | undefined> {
  if (spawnSync('mosquitto', ['-h'], { stdio: 'ignore' }).error) return undefined;
  const port = await freePort();
  const conf = join(DIR, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  return { url: `mqtt://127.0.0.1:${port}`, process: child };
}

function exited(child: ChildProcess): Promise<unknown> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit');
}

async function main(): Promise<void> {
  mkdirSync(DIR, { recursive: true });
  const { idp, moved } = await startProvider();
  const broker = await startBroker();
  const logFile = join(DIR, 'agent.log');

  const banner = [
    'kiosk-agent demo',
    `  identity provider  ${idp.authority}${moved ? ' (its usual port was taken: a new authority, so a new sign-in)' : ''}`,
    `  MQTT broker        ${broker?.url ?? 'none (install mosquitto to see MQTT)'}`,
    `  control API        ${idp.controlUrl} (GET pending, POST approve, …)`,
    `  agent logs         ${logFile}`,
    `Open ${idp.verificationUri} in a browser (accept its local certificate, CA in ${idp.caFile}),`,
    'type the code the kiosk shows, pick a test user and approve. Ctrl-C stops the demo.',
  ];
  // On a terminal the kiosk's screen takes the rows above the banner (KIOSK_TERMINAL_ROWS), so the banner stays readable.
  const bannerRows = banner.reduce((n, line) => n + Math.max(1, Math.ceil(line.length / (process.stdout.columns || 80))), 0);
  const tty = process.stdout.isTTY === true && process.stdout.rows >= bannerRows + 16;
  const kioskRows = tty ? process.stdout.rows - bannerRows - 1 : undefined;
  if (tty) process.stdout.write(`\x1b[2J\x1b[${(kioskRows ?? 0) + 2};1H${banner.join('\r\n')}\x1b[H`);
  else for (const line of [...banner.slice(0, 5), '', ...banner.slice(5), '']) say(line);

  const agent = spawn(process.execPath, ['--import', 'tsx', new URL('./main.ts', import.meta.url).pathname], {
    stdio: ['ignore', 'inherit', openSync(logFile, 'a')],
    env: {
      ...process.env,
      NODE_EXTRA_CA_CERTS: idp.caFile,
      KIOSK_CLIENT_ID: process.env.KIOSK_CLIENT_ID ?? 'kiosk-demo',
      KIOSK_AUTHORITY: idp.authority,
      KIOSK_CACHE_PATH: join(DIR, 'token-cache.json'),
      KIOSK_DEVICE_ID: process.env.KIOSK_DEVICE_ID ?? 'demo-kiosk',
      KIOSK_REFRESH_CRON: process.env.KIOSK_REFRESH_CRON ?? '*/5 * * * *',
      ...(kioskRows === undefined ? {} : { KIOSK_TERMINAL_ROWS: String(kioskRows) }),
      ...(broker ? { KIOSK_MQTT_URL: broker.url } : {}),
    },
  });

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    agent.kill('SIGTERM');
    await exited(agent);
    broker?.process.kill('SIGTERM');
    await Promise.all([broker ? exited(broker.process) : undefined, idp.close()]);
    if (tty) process.stdout.write(`\x1b[${process.stdout.rows};1H\r\n`);
    say('demo stopped');
    process.exit(0);
  };
  // A closed terminal (SIGHUP) stops everything as Ctrl-C does: Mosquitto would only reload its configuration.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop());
  agent.on('exit', (code) => {
    if (stopping) return;
    say(`agent exited with ${code}; see ${logFile}`);
    void stop();
  });
}

main().catch((e: unknown) => {
  say(`demo failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
