import { createHash } from 'node:crypto';
import { QUIET_ZONE, qrMatrix } from './qr.js';
import { secondsUntil } from './view.js';
import type { View } from './view.js';

/**
 * What the kiosk page is sent (`/events`, `/state.json`): the View's words, with the code's expiry
 * as an absolute time so the page runs its own countdown and the server pushes only real changes.
 * Nothing in it is secret: a View carries what is on screen anyway (user code, URL, account name),
 * never a device code or a token.
 */
export interface PageState extends Pick<View, 'title' | 'state' | 'headline' | 'userCode' | 'verificationUri' | 'qrText' | 'accountName' | 'identity'> {
  /** `/qr.svg?v=…`: a new address whenever the QR changes, so the page never shows a cached old one. */
  readonly qrUrl?: string;
  /** The View's steady status (absolute times): the page does its own counting down. */
  readonly status: string;
  /** Epoch ms at which the user code expires. */
  readonly expiresAt?: number;
  /** The page shows its Sign out button (KIOSK_WEB_SIGN_OUT, signed in). */
  readonly canSignOut?: true;
  /** The page shows its Sign in button (KIOSK_SIGN_IN=on_request, "Not signed in"). */
  readonly canSignIn?: true;
}

/** Which of the page's buttons its settings turn on. */
export interface PageOffers {
  readonly signOut: boolean;
  readonly signIn: boolean;
}

/** One message to the page: the state, the seconds left when it was sent, and the server's clock (the page corrects its own by it). */
export interface PageMessage extends PageState {
  readonly secondsLeft?: number;
  readonly serverTime: number;
}

/** Shown until the first render. */
export const INITIAL_STATE: PageState = Object.freeze({ title: 'kiosk-agent', state: 'starting', headline: 'Starting', status: '' });

/**
 * A later estimate of the same code's expiry replaces an earlier one only when it is this much
 * earlier: estimates never undershoot (seconds left are rounded up), so the smallest is the best,
 * and small jitter is not worth a push.
 */
const SETTLE_MS = 250;

const version = (text: string): string => createHash('sha256').update(text).digest('base64url').slice(0, 12);

/**
 * The page's state for `view`, rendered at `now`. A View says only how many whole seconds are left
 * (rounded up), so the expiry is estimated as `now + secondsLeft` and kept at the smallest estimate
 * seen for the same code (`previous`); the once-a-second renders right after each second boundary
 * bring it within milliseconds of the truth.
 */
export function pageState(view: View, now: number, previous?: PageState, offers: PageOffers = { signOut: false, signIn: false }): PageState {
  const live = view.userCode !== undefined;
  let expiresAt = live && view.secondsLeft !== undefined ? now + view.secondsLeft * 1000 : undefined;
  const before = previous?.userCode === view.userCode ? previous?.expiresAt : undefined;
  if (expiresAt !== undefined && before !== undefined && expiresAt > before - SETTLE_MS) expiresAt = before;
  const qr = live && view.qrText !== undefined ? view.qrText : undefined;
  return strip({
    title: view.title,
    state: view.state,
    headline: view.headline,
    userCode: view.userCode,
    verificationUri: live ? view.verificationUri : undefined,
    qrText: qr,
    qrUrl: qr === undefined ? undefined : `/qr.svg?v=${version(qr)}`,
    accountName: view.accountName,
    identity: view.identity !== undefined && view.identity.length > 0 ? view.identity : undefined,
    status: view.steadyStatus,
    expiresAt,
    canSignOut: offers.signOut && view.state === 'signed_in' ? true : undefined,
    canSignIn: offers.signIn && view.notSignedIn === true ? true : undefined,
  });
}

export function pageMessage(state: PageState, now: number): PageMessage {
  const secondsLeft = state.expiresAt === undefined ? undefined : secondsUntil(state.expiresAt, now);
  return strip({ ...state, secondsLeft, serverTime: now });
}

/** Drops undefined members, so equal states serialise alike. */
function strip<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * `text` as an SVG QR code: dark modules on white, the standard quiet zone of 4 modules, one
 * path of horizontal runs, crisp edges (no anti-aliased seams between modules).
 */
export function qrSvg(text: string): string {
  const m = qrMatrix(text);
  const n = m.size + 2 * QUIET_ZONE;
  let d = '';
  for (let y = 0; y < m.size; y += 1) {
    for (let x = 0; x < m.size; x += 1) {
      if (!m.isDark(x, y)) continue;
      let run = 1;
      while (m.isDark(x + run, y)) run += 1;
      d += `M${x + QUIET_ZONE} ${y + QUIET_ZONE}h${run}v1h-${run}z`;
      x += run - 1;
    }
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${n} ${n}" width="${n * 8}" height="${n * 8}" shape-rendering="crispEdges">` +
    `<rect width="${n}" height="${n}" fill="#fff"/><path fill="#000" d="${d}"/></svg>\n`
  );
}
