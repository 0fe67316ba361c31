import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebConfig } from '../config.js';

/**
 * Who may talk to the kiosk page (CONTRACT §9). `Host` must name the kiosk itself, so a page on another
 * site whose name was rebound to the kiosk's address (DNS rebinding) is refused before it can read
 * `/state.json`; a POST must carry the page's own `Origin` and its per-process token, so another
 * site cannot make the kiosk act (CSRF).
 */

/** Names every kiosk page answers to, besides `KIOSK_WEB_HOST` and `KIOSK_WEB_ALLOWED_HOSTS`. */
const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]'];

/** 32 random bytes, base64url: the token the page puts in the `csrf` field of its POSTs. */
export const newPageToken = (): string => randomBytes(32).toString('base64url');

/** Every host name the page answers to, lower case, IPv6 in brackets. */
export function allowedHosts(web: WebConfig): ReadonlySet<string> {
  const own = web.host.toLowerCase();
  return new Set([...LOOPBACK, own.includes(':') && !own.startsWith('[') ? `[${own}]` : own, ...web.allowedHosts]);
}

/** The host name in a `Host` header, port dropped, lower case; undefined when absent or malformed. */
export function hostOf(header: string | undefined): string | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]/@?#]+)(?::\d{1,5})?$/.exec(header ?? '');
  return m?.[1]?.toLowerCase();
}

/**
 * Whether the request's `Origin` is the page's own: `http://` (or `https://`, behind a proxy that
 * ends TLS) and exactly the `Host` the request came to, which `hostOf` has checked. An absent
 * `Origin` is refused too: browsers send one with every POST, and a script on the device has MQTT.
 * `Origin: null` (a sandboxed frame, a file, a redirect across sites) never matches.
 */
export function isOwnOrigin(req: IncomingMessage): boolean {
  const { origin, host } = req.headers;
  if (origin === undefined || host === undefined || !URL.canParse(origin)) return false;
  const url = new URL(origin);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return origin.toLowerCase() === url.origin && url.host === host.toLowerCase();
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Compares in constant time (over digests of equal length), so timing tells nothing about the token. */
export function isPageToken(given: string | undefined, token: string): boolean {
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}
