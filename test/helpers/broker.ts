import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { connect, connectAsync } from 'mqtt';
import type { IClientOptions, MqttClient } from 'mqtt';

const MOSQUITTO = process.env.MOSQUITTO ?? '/usr/sbin/mosquitto';

export interface BrokerOptions {
  /** username → password (`mosquitto_passwd`); with users, anonymous clients are refused. */
  users?: Record<string, string>;
  /** Contents of the ACL file (requires `users`). */
  acl?: string;
  /** A TLS listener next to the plain one; PEM paths. */
  tls?: { ca: string; cert: string; key: string; requireCertificate?: boolean };
  /** Credentials of the broker's own observer (`waitFor`, `last`) when anonymous clients are refused. */
  observer?: { username: string; password: string };
  /** A WebSocket listener next to the plain one (`wsUrl`). */
  websockets?: boolean;
}

export interface Message {
  readonly topic: string;
  readonly payload: Buffer;
  readonly retain: boolean;
  readonly text: string;
  readonly at: number;
  readonly properties?: { correlationData?: Buffer; responseTopic?: string };
}

/** A client that records every message on `filter`, with helpers to wait for one. */
export class Observer {
  readonly messages: Message[] = [];
  private readonly waiters = new Set<() => void>();
  constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload, retain: packet.retain, text: payload.toString('utf8'), at: Date.now(), properties: packet.properties });
      for (const w of this.waiters) w();
    });
  }

  on(topic: string): Message[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  last(topic: string): Message | undefined {
    return this.on(topic).at(-1);
  }

  /** The first message on `topic` (recorded already, or still to come) that passes; rejects after `timeoutMs`. */
  waitFor(topic: string, match: (m: Message) => boolean = () => true, timeoutMs = 5_000, from = 0): Promise<Message> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.messages.slice(from).find((m) => m.topic === topic && match(m));
        if (!hit) return false;
        this.waiters.delete(waiter);
        clearTimeout(timer);
        resolve(hit);
        return true;
      };
      const waiter = (): void => void check();
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no matching message on ${topic} within ${timeoutMs} ms (saw ${this.on(topic).map((m) => m.text).join(' | ')})`));
      }, timeoutMs);
      if (!check()) this.waiters.add(waiter);
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

export interface Broker {
  readonly port: number;
  readonly url: string;
  readonly tlsPort?: number;
  readonly tlsUrl?: string;
  /** ws:// of the WebSocket listener, when asked for. */
  readonly wsUrl?: string;
  readonly dir: string;
  /** Its log so far (for failure messages). */
  output(): string;
  /** Connects a recording client to `filter` (default everything) and resolves once subscribed. */
  observe(o?: { filter?: string | string[]; options?: IClientOptions }): Promise<Observer>;
  waitFor(topic: string, match?: (m: Message) => boolean, timeoutMs?: number): Promise<Message>;
  last(topic: string): Promise<Message | undefined>;
  /**
   * What a subscriber joining now is told on `topic`: the retained message, read by a fresh client, or
   * undefined when none comes within `waitMs`. Rejects when the broker cannot be reached.
   */
  retained(topic: string, waitMs?: number): Promise<string | undefined>;
  /** SIGTERM and wait (retained messages are saved). */
  stop(): Promise<void>;
  /** SIGKILL and wait (nothing saved since the last autosave). */
  kill(): Promise<void>;
  /** Starts again on the same port with the same configuration and persistence. */
  restart(): Promise<void>;
  /** Stops the broker, closes observers and removes its directory. */
  dispose(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

async function accepting(port: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(20);
  }
  throw new Error(`broker not accepting on ${port} within ${timeoutMs} ms`);
}

/** A real Mosquitto on free loopback ports with its own configuration in a temp dir. */
export async function startBroker(o: BrokerOptions = {}): Promise<Broker> {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-broker-'));
  const port = await freePort();
  const tlsPort = o.tls ? await freePort() : undefined;
  const wsPort = o.websockets ? await freePort() : undefined;
  const conf = [
    `listener ${port} 127.0.0.1`,
    `allow_anonymous ${o.users ? 'false' : 'true'}`,
    'persistence true',
    `persistence_location ${dir}/`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'max_queued_messages 10000',
  ];
  if (process.getuid?.() === 0) conf.push('user root');
  if (o.users) {
    const passwd = join(dir, 'passwd');
    for (const [i, [user, password]] of Object.entries(o.users).entries())
      await promisify(execFile)('mosquitto_passwd', [...(i === 0 ? ['-c'] : []), '-b', passwd, user, password]);
    conf.push(`password_file ${passwd}`);
  }
  if (o.acl !== undefined) {
    await writeFile(join(dir, 'acl'), o.acl);
    conf.push(`acl_file ${join(dir, 'acl')}`);
  }
  if (o.tls && tlsPort) {
    conf.push(`listener ${tlsPort} 127.0.0.1`, `cafile ${o.tls.ca}`, `certfile ${o.tls.cert}`, `keyfile ${o.tls.key}`);
    conf.push(`require_certificate ${o.tls.requireCertificate ? 'true' : 'false'}`);
  }
  if (wsPort) conf.push(`listener ${wsPort} 127.0.0.1`, 'protocol websockets');
  const confPath = join(dir, 'mosquitto.conf');
  await writeFile(confPath, `${conf.join('\n')}\n`);

  let child: ChildProcess | undefined;
  let log = '';
  const observers: Observer[] = [];
  let defaultObserver: Promise<Observer> | undefined;
  const killOnExit = (): void => void child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  const launch = async (): Promise<void> => {
    child = spawn(MOSQUITTO, ['-c', confPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (b: Buffer) => (log += b.toString()));
    await Promise.all([port, tlsPort, wsPort].map((p) => p && accepting(p, 5_000)));
  };
  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill(signal);
    await exited;
  };
  await launch();

  const url = `mqtt://127.0.0.1:${port}`;
  const broker: Broker = {
    port,
    url,
    tlsPort,
    tlsUrl: tlsPort ? `mqtts://127.0.0.1:${tlsPort}` : undefined,
    wsUrl: wsPort ? `ws://127.0.0.1:${wsPort}` : undefined,
    dir,
    output: () => log,
    async observe({ filter = '#', options = {} } = {}) {
      const client = connect(url, { protocolVersion: 5, reconnectPeriod: 100, connectTimeout: 2_000, ...o.observer, ...options });
      const observer = new Observer(client);
      observers.push(observer);
      client.on('error', () => undefined);
      await new Promise<void>((resolve) => {
        // Every (re)connect subscribes again: the observer outlives broker restarts.
        client.on('connect', () => client.subscribe(filter, { qos: 1 }, () => resolve()));
      });
      return observer;
    },
    async waitFor(topic, match, timeoutMs) {
      return (await (defaultObserver ??= broker.observe())).waitFor(topic, match, timeoutMs);
    },
    async last(topic) {
      return (await (defaultObserver ??= broker.observe())).last(topic);
    },
    async retained(topic, waitMs = 1_000) {
      const client = await connectAsync(url, { reconnectPeriod: 0, connectTimeout: 2_000, ...o.observer });
      try {
        return await new Promise<string | undefined>((resolve) => {
          const timer = setTimeout(() => resolve(undefined), waitMs);
          client.on('message', (t, payload, packet) => {
            if (t !== topic || !packet.retain) return;
            clearTimeout(timer);
            resolve(payload.toString('utf8'));
          });
          void client.subscribeAsync(topic, { qos: 1 });
        });
      } finally {
        await client.endAsync(true);
      }
    },
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    async restart() {
      await halt('SIGKILL');
      await launch();
    },
    async dispose() {
      await Promise.allSettled(observers.map((x) => x.close()));
      await halt('SIGKILL');
      process.off('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return broker;
}
