import type { AgentState, Claims, Snapshot } from '../state.js';

/**
 * What every display shows (SPEC §4), derived from one snapshot by `toView`. Displays only lay
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

/** Whole seconds from `now` until `at`, rounded up (a countdown shows 0 only once the time has passed). */
export const secondsUntil = (at: number, now: number): number => Math.max(0, Math.ceil((at - now) / 1000));

/** 299 → "4:59". */
export function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Epoch ms → "14:30 UTC" (or "14:30:05 UTC" with seconds). UTC: kiosks and containers rarely agree on a zone. */
export function formatClock(at: number, withSeconds = false): string {
  const iso = new Date(at).toISOString();
  return `${iso.slice(11, withSeconds ? 19 : 16)} UTC`;
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

const join = (...parts: Array<string | undefined | false>): string => parts.filter((p): p is string => Boolean(p)).join(' · ');

/** How the kiosk names itself on screen: its name (KIOSK_DEVICE_NAME, else the device id) and location. */
export const kioskLabel = (c: { deviceName: string; location?: string }): string => join(c.deviceName, c.location);

/** Pure: the same inputs always give the same view. `now` is epoch milliseconds; `label` from `kioskLabel`. */
export function toView(snapshot: Snapshot, claims: Claims | undefined, now: number, label: string): View {
  const s = snapshot;
  const title = `kiosk-agent · ${label}`;
  const named = s.state === 'restoring' || s.state === 'signed_in';
  const accountName = named ? accountNameOf(s, claims) : undefined;
  const retryLeft = s.retryAt === undefined ? undefined : secondsUntil(s.retryAt, now);
  const retry = retryLeft === undefined ? undefined : `Retrying in ${formatWait(retryLeft)}`;
  const steadyRetry = s.retryAt === undefined ? undefined : `Retrying at ${formatClock(s.retryAt, true)}`;
  const base = { title, state: s.state, accountName };

  switch (s.state) {
    case 'starting':
      return { ...base, headline: 'Starting', status: join(s.detail), steadyStatus: join(s.detail), ticking: false };
    case 'restoring': {
      const headline = accountName === undefined ? 'Signing in' : `Signing in as ${accountName}`;
      return { ...base, headline, status: join(s.detail), steadyStatus: join(s.detail), ticking: false };
    }
    case 'awaiting_sign_in':
      return awaiting(s, now, base);
    case 'signed_in': {
      const headline = accountName === undefined ? 'Signed in' : `Signed in as ${accountName}`;
      const next = s.nextRefreshAt === undefined ? undefined : `Next refresh ${formatClock(s.nextRefreshAt)}`;
      return { ...base, headline, status: join(s.detail, next), steadyStatus: join(s.detail, next), ticking: false };
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

function awaiting(s: Snapshot, now: number, base: Base): View {
  // No code was asked for yet (KIOSK_SIGN_IN=on_request).
  if (s.userCode === undefined && s.expiresAt === undefined)
    return { ...base, headline: 'Not signed in', status: join(s.detail), steadyStatus: join(s.detail), ticking: false };
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
  const at = s.expiresAt === undefined ? undefined : `expires at ${formatClock(s.expiresAt)}`;
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
