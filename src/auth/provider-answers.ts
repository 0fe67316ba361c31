/**
 * What the provider's answers must hold before MSAL sees them (MSAL checks little, and fails on the
 * rest with a TypeError or a busy loop): a device code, for MSAL's request and for the one asked for at
 * process start alike, and a token response.
 */

import { isObject } from '../json.js';

const DEFAULT_INTERVAL_S = 5;
/** A longer device-code lifetime is taken as a day (RFC 8628 providers use minutes): times stay real dates. */
const MAX_CODE_LIFETIME_S = 86_400;

/** A device-code answer with everything the kiosk shows and MSAL polls by. */
export interface UsableCode {
  readonly userCode: string;
  readonly deviceCode: string;
  readonly verificationUri: string;
  readonly verificationUriComplete?: string;
  /** Seconds, within KIOSK_CODE_LIFETIME. */
  readonly expiresIn: number;
  readonly interval: number;
  readonly message?: string;
}

/** The answer's code, or undefined when it has none usable. */
export function usableCode(body: Record<string, unknown>, codeLifetimeMs: number | undefined): UsableCode | undefined {
  // MSAL checks nothing here: without a code, a URL or a lifetime it would show `undefined` and poll for ever.
  const lifetimeS = Math.min(MAX_CODE_LIFETIME_S, (codeLifetimeMs ?? Infinity) / 1000);
  // MSAL gives up on a code at its `expires_in`: a shorter lifetime here retires it sooner, and a fresh one follows.
  const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? Math.min(body.expires_in, lifetimeS) : undefined;
  if (!isText(body.user_code) || !isText(body.device_code) || !isText(body.verification_uri) || expiresIn === undefined) return undefined;
  // Never wait past the code's end for the first poll (the display would show a dead code).
  const interval = Math.min(typeof body.interval === 'number' && body.interval > 0 ? body.interval : DEFAULT_INTERVAL_S, expiresIn);
  return {
    userCode: body.user_code,
    deviceCode: body.device_code,
    verificationUri: body.verification_uri,
    verificationUriComplete: isText(body.verification_uri_complete) ? body.verification_uri_complete : undefined,
    expiresIn,
    interval,
    message: typeof body.message === 'string' ? body.message : undefined,
  };
}

/** Non-blank and well-formed: MSAL URI-encodes these, and a lone surrogate makes it throw. */
const isText = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '' && !/\p{Cs}/u.test(v);

/** RFC 6749 §5.2: an error code is printable ASCII without `"` or `\`. */
export const OAUTH_ERROR = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,256}$/;
/** Token-response fields MSAL calls string methods on (or writes to the cache as strings), and the ones it adds up. */
const TOKEN_STRINGS = ['error_description', 'suberror', 'access_token', 'id_token', 'refresh_token', 'client_info', 'token_type', 'scope', 'foci'];
const TOKEN_NUMBERS = ['expires_in', 'ext_expires_in', 'refresh_in', 'refresh_token_expires_in'];
const isSeconds = (v: unknown): boolean => (typeof v === 'number' && Number.isFinite(v) && v >= 0) || (typeof v === 'string' && /^\d{1,12}$/.test(v));

/** A token endpoint's JSON (success or error) with the types MSAL relies on; non-JSON text reads as `{}`. */
export function isTokenResponse(v: unknown): boolean {
  return (
    isObject(v) &&
    (v.error === undefined || (typeof v.error === 'string' && OAUTH_ERROR.test(v.error))) &&
    TOKEN_STRINGS.every((k) => v[k] === undefined || typeof v[k] === 'string') &&
    TOKEN_NUMBERS.every((k) => v[k] === undefined || isSeconds(v[k]))
  );
}
