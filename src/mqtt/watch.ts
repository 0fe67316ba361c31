import { randomBytes } from 'node:crypto';
import { connect } from 'mqtt';
import { within } from '../clock.js';
import { isTopicPrefix } from '../config-checks.js';
import { MQTT_PROTOCOLS } from '../config-types.js';
import { ConfigError, messageOf } from '../errors.js';
import { defaultOf } from '../settings.js';
import { readSmallText } from '../small-file.js';
import { clientOptions, describeUrl } from './client-options.js';
import type { ConnectionTuning, MqttSettings } from './client-options.js';
import { fleetTopics } from './topics.js';
import { applyMessage, jsonLine, renderTable } from './watch-view.js';
import type { Fleet } from './watch-view.js';

export interface WatchOptions {
  readonly mqtt: MqttSettings;
  /** One JSON object per line per change, instead of the table. */
  readonly json: boolean;
  readonly out: NodeJS.WritableStream;
  /** Connection problems (the table shows them in its header as well). */
  readonly errors?: NodeJS.WritableStream;
  /** Ends the watch: the client disconnects and the promise resolves. */
  readonly signal: AbortSignal;
  /** Redraw in place with ANSI; default: when `out` is a TTY. */
  readonly tty?: boolean;
  readonly now?: () => number;
  readonly tuning?: ConnectionTuning;
  /** Called each time the subscriptions are in place. */
  readonly onSubscribed?: () => void;
}

const REDRAW_DEBOUNCE_MS = 100;

/**
 * `kiosk-agent watch`: an operator's read-only live view of every kiosk under the prefix, from
 * the retained `state` and `availability` topics. Resolves once `signal` aborts and the client has ended.
 */
export async function watchFleet(o: WatchOptions): Promise<void> {
  if (o.signal.aborted) return;
  const now = o.now ?? Date.now;
  const tty = o.tty ?? (o.out as { isTTY?: boolean }).isTTY === true;
  const topics = fleetTopics(o.mqtt.prefix);
  const url = describeUrl(o.mqtt.url);
  const fleet: Fleet = new Map();
  let status = 'connecting';
  let lastError: string | undefined;
  let pending: NodeJS.Timeout | undefined;

  const draw = (): void => {
    pending = undefined;
    const header = `kiosk-agent watch  ${url}  ${o.mqtt.prefix}/+  ${status}  ${fleet.size} kiosk(s)`;
    o.out.write(`${tty ? '\x1b[H\x1b[2J' : ''}${renderTable(fleet, now(), header)}${tty ? '' : '\n'}`);
  };
  const redraw = (): void => {
    if (!o.json && pending === undefined) pending = setTimeout(draw, REDRAW_DEBOUNCE_MS);
  };
  const ticker = !o.json && tty ? setInterval(draw, 1_000) : undefined;

  const client = connect(
    o.mqtt.url,
    clientOptions(o.mqtt, { clientId: `kiosk-watch-${randomBytes(6).toString('hex')}` }, o.tuning),
  );
  client.on('connect', () => {
    status = 'connected';
    lastError = undefined;
    client.subscribe([topics.state, topics.availability], { qos: 1 }, (e) => {
      if (e) o.errors?.write(`kiosk-agent watch: cannot subscribe: ${messageOf(e)}\n`);
      else o.onSubscribed?.();
    });
    redraw();
  });
  client.on('close', () => {
    if (status === 'connected') status = 'disconnected, reconnecting';
    redraw();
  });
  client.on('error', (e) => {
    if (o.signal.aborted) return;
    const message = messageOf(e);
    if (message !== lastError) o.errors?.write(`kiosk-agent watch: ${url}: ${message}\n`);
    lastError = message;
    status = `disconnected (${message})`;
    redraw();
  });
  client.on('message', (topic, payload) => {
    const target = topics.parse(topic);
    if (!target) return;
    const row = applyMessage(fleet, target.device, target.kind, payload.toString('utf8'));
    if (!row) return;
    if (o.json) o.out.write(jsonLine(row, target.kind, now()));
    else redraw();
  });
  if (!o.json) draw();

  await new Promise<void>((resolve) => o.signal.addEventListener('abort', () => resolve(), { once: true }));
  clearInterval(ticker);
  clearTimeout(pending);
  if (!(await within(new Promise((resolve) => client.end(false, {}, resolve)), 1_000))) client.end(true);
}

export interface WatchFlags {
  readonly url?: string;
  readonly prefix?: string;
}

/**
 * Where `watch` connects: flags first, then the same KIOSK_MQTT_* settings (and `_FILE` secrets)
 * the agent reads. An operator needs no client id or authority to watch.
 */
export function watchSettings(env: NodeJS.ProcessEnv, flags: WatchFlags = {}, read = (p: string) => readSmallText(p)): MqttSettings {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const file = env[`${name}_FILE`];
    if (file === undefined) return env[name]?.trim() || undefined;
    try {
      return read(file).replace(/\r?\n$/, '');
    } catch (e) {
      problems.push(`${name}_FILE: cannot read ${file} (${messageOf(e)})`);
      return undefined;
    }
  };
  const url = flags.url ?? get('KIOSK_MQTT_URL') ?? defaultOf('KIOSK_MQTT_URL') ?? '';
  const prefix = flags.prefix ?? get('KIOSK_MQTT_PREFIX') ?? defaultOf('KIOSK_MQTT_PREFIX') ?? '';
  if (!URL.canParse(url) || !(MQTT_PROTOCOLS as readonly string[]).includes(new URL(url).protocol))
    problems.push(`KIOSK_MQTT_URL (--url): "${describeUrl(url)}" must be an mqtt://, mqtts://, ws:// or wss:// URL`);
  if (!isTopicPrefix(prefix))
    problems.push(`KIOSK_MQTT_PREFIX (--prefix): "${prefix}" is not a topic prefix; use segments without +, #, spaces or empty parts`);
  const settings = {
    enabled: true,
    url,
    prefix,
    username: get('KIOSK_MQTT_USERNAME'),
    password: get('KIOSK_MQTT_PASSWORD'),
    ca: get('KIOSK_MQTT_CA'),
    cert: get('KIOSK_MQTT_CERT'),
    key: get('KIOSK_MQTT_KEY'),
  };
  if ((settings.cert === undefined) !== (settings.key === undefined))
    problems.push('KIOSK_MQTT_CERT: a client certificate needs both KIOSK_MQTT_CERT and KIOSK_MQTT_KEY');
  if (problems.length > 0) throw new ConfigError(problems);
  return settings;
}

/** For the CLI: watches until SIGINT or SIGTERM, then ends cleanly. */
export async function runWatch(o: Omit<WatchOptions, 'signal'>): Promise<void> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    await watchFleet({ errors: process.stderr, ...o, signal: stop.signal });
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}
