/**
 * `npm run demo`: the local identity provider, an MQTT broker and the agent with the terminal
 * display, all on this machine. Approve the code in a browser; Ctrl-C stops everything.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIdp } from './idp/server.js';

const DIR = process.env.KIOSK_DEMO_DIR ?? join(tmpdir(), 'kiosk-agent-demo');
const say = (line = ''): boolean => process.stderr.write(`${line}\n`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Mosquitto when it is installed; the agent carries on without a broker otherwise. */
async function startBroker(): Promise<{ url: string; process?: ChildProcess } | undefined> {
  if (spawnSync('mosquitto', ['-h'], { stdio: 'ignore' }).error) return undefined;
  const port = await freePort();
  const conf = join(DIR, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  return { url: `mqtt://127.0.0.1:${port}`, process: child };
}

async function main(): Promise<void> {
  mkdirSync(DIR, { recursive: true });
  const idp = await startIdp({ dir: join(DIR, 'idp'), port: 0, controlPort: 0 });
  const broker = await startBroker();
  const logFile = join(DIR, 'agent.log');

  say('kiosk-agent demo');
  say(`  identity provider  ${idp.authority}`);
  say(`  MQTT broker        ${broker?.url ?? 'none (install mosquitto to see MQTT)'}`);
  say(`  control API        ${idp.controlUrl} (GET pending, POST approve, …)`);
  say(`  agent logs         ${logFile}`);
  say();
  say(`Open ${idp.verificationUri} in a browser (accept its local certificate, CA in ${idp.caFile}),`);
  say('type the code the kiosk shows, pick a test user and approve. Ctrl-C stops the demo.');
  say();

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
      ...(broker ? { KIOSK_MQTT_URL: broker.url } : {}),
    },
  });

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    agent.kill('SIGTERM');
    await once(agent, 'exit');
    broker?.process?.kill('SIGTERM');
    await idp.close();
    say('\ndemo stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
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
