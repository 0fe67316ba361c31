import pino from 'pino';
import type { Logger, DestinationStream } from 'pino';

export type { Logger };

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

/** Logs are JSON lines on stderr (CONTRACT §5): stdout belongs to the terminal display. */
export function createLogger(level: string, destination: DestinationStream = pino.destination({ fd: 2, sync: true })): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** JWT-shaped runs, and `code=`/`token=` style query parameters, replaced inside free text. */
const JWT = /eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*/g;
const SECRET_PARAM = /\b(code|otc|device_code|user_code|refresh_token|access_token|id_token|client_info|password)=([^&\s"']+)/gi;

export function scrub(text: string): string {
  return text.replace(JWT, '[redacted]').replace(SECRET_PARAM, '$1=[redacted]');
}
