import pino from 'pino';
import type { Bindings, DestinationStream, Logger as PinoLogger } from 'pino';

/** What the agent asks of a log: pino's levels, child loggers with bindings, and level checks. */
export type Logger = Pick<PinoLogger, 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'isLevelEnabled'> & {
  child(bindings: Bindings): Logger;
};

/**
 * Paths pino censors wherever they appear (one and two levels deep). Values that could carry a
 * secret inside free text (URLs with codes, provider messages) are cleaned by `scrub` before logging.
 */
const SECRET_KEYS = [
  'accessToken', 'access_token', 'refreshToken', 'refresh_token', 'idToken', 'id_token', 'secret',
  'deviceCode', 'device_code', 'password', 'cacheKey', 'authorization', 'Authorization',
  'client_info', 'assertion', 'token',
];
const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

/**
 * Logs are JSON lines on stderr (CONTRACT §5): stdout belongs to the terminal display. `now` stamps each
 * entry (a boot's entries held until pino loaded keep the time they were made: deferred-log.ts).
 */
export function createLogger(level: string, destination: DestinationStream = pino.destination({ fd: 2, sync: true }), now: () => number = Date.now): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: () => `,"time":"${new Date(now()).toISOString()}"`,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
