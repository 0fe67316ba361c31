import type { IClientOptions } from 'mqtt';
import type { Config } from '../config.js';
import { PEM_FILE_LIMIT, readSmallFile } from '../small-file.js';

export type MqttSettings = Config['mqtt'];

/** Timings and protocol of one connection; the defaults suit a kiosk, tests shorten them. */
export interface ConnectionTuning {
  /** MQTT 5 by default (response topics and correlation data); 4 is MQTT 3.1.1. */
  readonly protocolVersion?: 4 | 5;
  readonly reconnectPeriodMs?: number;
  readonly connectTimeoutMs?: number;
  readonly keepaliveSeconds?: number;
}

/**
 * Largest packet this client accepts from the broker (MQTT 5); bigger ones are never delivered, so their
 * senders get no answer. Well above the 4 KiB request limit, so an oversized request up to here is still
 * answered `too_large`, and small enough that a Pi never buffers more than this for one message.
 */
const MAX_INCOMING_PACKET = 1024 * 1024;

/**
 * MQTT.js options for `mqtt://`, `mqtts://`, `ws://` and `wss://` (CONTRACT §3): broker CA, client
 * certificate and key read from their PEM files, username and password. Certificate checks stay on.
 */
export function clientOptions(
  settings: MqttSettings,
  base: IClientOptions,
  tuning: ConnectionTuning = {},
  read: (path: string) => Buffer = (p) => readSmallFile(p, PEM_FILE_LIMIT),
): IClientOptions {
  const protocolVersion = tuning.protocolVersion ?? 5;
  return {
    ...base,
    protocolVersion,
    clean: true,
    // Publishing happens only while connected; nothing waits in MQTT.js's offline queue to be replayed later.
    queueQoSZero: false,
    resubscribe: false,
    reconnectPeriod: tuning.reconnectPeriodMs ?? 1_000,
    connectTimeout: tuning.connectTimeoutMs ?? 10_000,
    keepalive: tuning.keepaliveSeconds ?? 30,
    rejectUnauthorized: true,
    // The default pre-builds 65,536 two-byte Buffers for packet ids on the first publish: tens of ms of
    // CPU, several MB of heap for the collector to walk, for a client that sends a few packets a minute.
    writeCache: false,
    ...(protocolVersion === 5 ? { properties: { ...base.properties, maximumPacketSize: MAX_INCOMING_PACKET } } : {}),
    ...(settings.username !== undefined ? { username: settings.username } : {}),
    ...(settings.password !== undefined ? { password: settings.password } : {}),
    ...(settings.ca !== undefined ? { ca: read(settings.ca) } : {}),
    ...(settings.cert !== undefined ? { cert: read(settings.cert) } : {}),
    ...(settings.key !== undefined ? { key: read(settings.key) } : {}),
  };
}

/** The broker URL without credentials, for logs and the watch header. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.href.replace(/\/$/, '');
  } catch {
    return '(invalid URL)';
  }
}
