import type { AgentState, Claims, Snapshot } from '../state.js';

/**
 * What every display shows (CONTRACT §4), derived from one snapshot by `toView`. Displays only lay
 * it out; they never read the snapshot themselves, so all of them say the same thing.
 */
export interface View {
  /**
   * Product name and how the kiosk names itself, e.g. "kiosk-agent · Lobby screen · Reception": on
   * every screen, so the person approving a code knows which device they approve (RFC 8628 §5.4).
   */
  readonly title: string;
  readonly state: AgentState;
  /** One short line per state: "Sign in", "Signed in as Ada", the provider's error code, … */
  readonly headline: string;
  /** Present only while a live device code is on screen (never a dead one). */
  readonly userCode?: string;
  readonly verificationUri?: string;
  /** What the QR encodes: `verificationUriComplete` when the provider gave one, else `verificationUri`. */
  readonly qrText?: string;
  /** Seconds until the device code expires, never negative. */
  readonly secondsLeft?: number;
  /** The signed-in (or being restored) account, in `restoring` and `signed_in` only. */
  readonly accountName?: string;
  /**
   * Who is signed in (CONTRACT §9), in `signed_in` only: the verified, allow-listed ID-token claims the
   * machine holds (`KIOSK_CLAIMS`), each with a label for people, the name aside (it is the headline).
   */
  readonly identity?: readonly IdentityRow[];
  /** Nobody is signed in and no code was asked for (`KIOSK_SIGN_IN=on_request`): where a Sign in button belongs. */
  readonly notSignedIn?: true;
  /** One line for the foot of the screen; may count down ("expires in 4:59", "Retrying in 12 s"). */
  readonly status: string;
  /**
   * The status line with absolute times instead of countdowns ("expires at 14:35 UTC"), for
   * displays that print rather than redraw: it changes only when something real changes.
   */
  readonly steadyStatus: string;
  /** True while some text counts down: displays are re-rendered once a second. */
  readonly ticking: boolean;
}

/** One line of the "who is signed in" panel: "Username" and "ada@example.com". */
export interface IdentityRow {
  readonly label: string;
  readonly value: string;
}

/** Whole seconds from `now` until `at`, rounded up (a countdown shows 0 only once the time has passed). */
export const secondsUntil = (at: number, now: number): number => Math.max(0, Math.ceil((at - now) / 1000));

/** 299 → "4:59". */
export function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Formatters by zone and precision: making one costs far more than using it, and views are made every second. */
const clocks = new Map<string, Intl.DateTimeFormat>();

/**
 * Epoch ms → "14:30 UTC", "15:30 CET" (or "15:30:05 CET" with seconds): the time in `timeZone` (TZ)
 * with the zone's short name, so a reader never wonders which zone a time is in. The zone data is the
 * runtime's own (ICU): nothing is read from /usr/share/zoneinfo.
 */
export function formatClock(at: number, withSeconds = false, timeZone = 'UTC'): string {
  if (timeZone === 'UTC') return utcClock(at, withSeconds);
  const key = `${timeZone} ${withSeconds}`;
  let format = clocks.get(key);
  if (format === undefined) {
    const second = withSeconds ? ({ second: '2-digit' } as const) : {};
    format = new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit', ...second, timeZoneName: 'short' });
    clocks.set(key, format);
  }
  const parts = format.formatToParts(at);
  const time = parts.filter((p) => p.type === 'hour' || p.type === 'minute' || p.type === 'second').map((p) => p.value).join(':');
  return `${time} ${parts.find((p) => p.type === 'timeZoneName')?.value ?? timeZone}`;
}

/**
 * The same text for UTC, the default zone, without Intl: a process's first Intl formatter loads ICU's
 * locale data, 15 to 35 ms that would fall between boot and the first code on screen.
 */
function utcClock(at: number, withSeconds: boolean): string {
  const d = new Date(at);
  const two = (n: number): string => String(n).padStart(2, '0');
  const seconds = withSeconds ? `:${two(d.getUTCSeconds())}` : '';
  return `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}${seconds} UTC`;
}

/** A wait as people say it: "12 s" under a minute, else "3:20". */
const formatWait = (seconds: number): string => (seconds < 60 ? `${seconds} s` : formatCountdown(seconds));

/** The account's display name: the verified `name` claim, else the cached account's name, else its username. */
export function accountNameOf(snapshot: Snapshot, claims: Claims | undefined): string | undefined {
  const claimed = claims?.['name'];
  if (typeof claimed === 'string' && claimed.trim() !== '') return claimed.trim();
  const account = snapshot.account;
  return account?.name?.trim() || account?.username || undefined;
}

/** Labels for the claims people know; any other allowed claim is shown under its own name. */
const CLAIM_LABELS: Readonly<Record<string, string>> = {
  preferred_username: 'Username', email: 'Email', upn: 'UPN', unique_name: 'Username', given_name: 'Given name',
  family_name: 'Family name', oid: 'Object ID', tid: 'Tenant ID', sub: 'Subject', roles: 'Roles', groups: 'Groups',
};
/** A claim longer than this is cut: a screen shows a person's name and address, not a document. */
const CLAIM_MAX = 200;

/** A claim's value as one line of text: control characters (an escape sequence on a terminal) become spaces. */
function claimText(value: unknown): string | undefined {
  const items = Array.isArray(value) ? value : [value];
  if (!items.every((v) => ['string', 'number', 'boolean'].includes(typeof v))) return undefined;
  const text = items.map(String).join(', ').replace(/[\p{Cc}\p{Cf}\u2028\u2029]+/gu, ' ').replace(/\s+/g, ' ').trim();
  if (text === '') return undefined;
  const chars = [...text];
  return chars.length > CLAIM_MAX ? `${chars.slice(0, CLAIM_MAX - 1).join('')}…` : text;
}

/** The "who is signed in" rows: every allowed claim but the name, in `KIOSK_CLAIMS` order. */
export function identityOf(claims: Claims | undefined): IdentityRow[] {
  const rows: IdentityRow[] = [];
  for (const [claim, raw] of Object.entries(claims ?? {})) {
    const value = claim === 'name' ? undefined : claimText(raw);
    if (value !== undefined) rows.push({ label: CLAIM_LABELS[claim] ?? claim, value });
  }
  return rows;
}

const join = (...parts: Array<string | undefined | false>): string => parts.filter((p): p is string => Boolean(p)).join(' · ');

/** How the kiosk names itself on screen: its name (KIOSK_DEVICE_NAME, else the device id) and location. */
export const kioskLabel = (c: { deviceName: string; location?: string }): string => join(c.deviceName, c.location);

/**
 * Pure: the same inputs always give the same view. `now` is epoch milliseconds; `label` from
 * `kioskLabel`; times are shown in `timeZone` (TZ).
 */
export function toView(snapshot: Snapshot, claims: Claims | undefined, now: number, label: string, timeZone = 'UTC'): View {
  const s = snapshot;
  const clock = (at: number, withSeconds = false): string => formatClock(at, withSeconds, timeZone);
  const title = `kiosk-agent · ${label}`;
  const named = s.state === 'restoring' || s.state === 'signed_in';
  const accountName = named ? accountNameOf(s, claims) : undefined;
  const retryLeft = s.retryAt === undefined ? undefined : secondsUntil(s.retryAt, now);
  const retry = retryLeft === undefined ? undefined : `Retrying in ${formatWait(retryLeft)}`;
  const steadyRetry = s.retryAt === undefined ? undefined : `Retrying at ${clock(s.retryAt, true)}`;
  const base = { title, state: s.state, accountName };

  switch (s.state) {
    case 'starting':
      return { ...base, headline: 'Starting', status: join(s.detail), steadyStatus: join(s.detail), ticking: false };
    case 'restoring': {
      const headline = accountName === undefined ? 'Signing in' : `Signing in as ${accountName}`;
      return { ...base, headline, status: join(s.detail), steadyStatus: join(s.detail), ticking: false };
    }
    case 'awaiting_sign_in':
      return awaiting(s, now, base, clock);
    case 'signed_in': {
      const headline = accountName === undefined ? 'Signed in' : `Signed in as ${accountName}`;
      const next = s.nextRefreshAt === undefined ? undefined : `Next refresh ${clock(s.nextRefreshAt)}`;
      const identity = identityOf(claims);
      return { ...base, headline, identity, status: join(s.detail, next), steadyStatus: join(s.detail, next), ticking: false };
    }
    case 'offline':
      return {
        ...base, headline: 'Waiting for network', status: join(s.detail, retry), steadyStatus: join(s.detail, steadyRetry),
        ticking: (retryLeft ?? 0) > 0,
      };
    case 'error':
      return {
        ...base, headline: s.error?.code ?? 'Error',
        status: join(s.error?.message, s.detail, retry), steadyStatus: join(s.error?.message, s.detail, steadyRetry),
        ticking: (retryLeft ?? 0) > 0,
      };
    case 'stopped':
      return { ...base, headline: 'Stopped', status: join(s.detail), steadyStatus: join(s.detail), ticking: false };
  }
}

type Base = Pick<View, 'title' | 'state' | 'accountName'>;

function awaiting(s: Snapshot, now: number, base: Base, clock: (at: number) => string): View {
  // No code was asked for yet (KIOSK_SIGN_IN=on_request).
  if (s.userCode === undefined && s.expiresAt === undefined)
    return { ...base, headline: 'Not signed in', notSignedIn: true, status: join(s.detail), steadyStatus: join(s.detail), ticking: false };
  const secondsLeft = s.expiresAt === undefined ? undefined : secondsUntil(s.expiresAt, now);
  if (secondsLeft === 0) {
    // The display never shows a dead code: the next one is on its way.
    const status = join(s.detail, 'Code expired; getting a new one');
    return { ...base, headline: 'Sign in', secondsLeft, status, steadyStatus: status, ticking: false };
  }
  const uri = s.verificationUri ?? s.verificationUriComplete;
  const how = s.userCode !== undefined && uri !== undefined
    ? `Open ${uri} on your phone and enter ${s.userCode}`
    : undefined;
  const left = secondsLeft === undefined ? undefined : `expires in ${formatCountdown(secondsLeft)}`;
  const at = s.expiresAt === undefined ? undefined : `expires at ${clock(s.expiresAt)}`;
  return {
    ...base,
    headline: 'Sign in',
    userCode: s.userCode,
    verificationUri: uri,
    qrText: s.verificationUriComplete ?? s.verificationUri,
    secondsLeft,
    status: join(s.detail, how, left),
    steadyStatus: join(s.detail, how, at),
    ticking: secondsLeft !== undefined,
  };
}
