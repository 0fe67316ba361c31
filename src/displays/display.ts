import type { Clock } from '../clock.js';
import type { DisplayName, DisplaysConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { View } from './view.js';

/**
 * One way of showing the sign-in screen. The constructor (factory) only stores its deps; `start`
 * acquires the device, port or stream and may throw (device missing, permission denied), and so may
 * `render`. `startDisplays` contains both: it logs, stops the display and retries with a fresh one.
 */
export interface Display {
  readonly name: DisplayName;
  start(): Promise<void>;
  render(view: View): Promise<void> | void;
  /** Releases what `start` acquired; safe to call after a failed or partial start. */
  stop(): Promise<void>;
}

/** How an action asked for at the kiosk ended: done, or refused because the kiosk is not in a state for it. */
export type ActionOutcome = 'ok' | 'not_signed_in' | 'wrong_state';

/**
 * What the person at the kiosk may do from a screen (CONTRACT §9). Implemented in `src/kiosk-actions.ts`
 * over the same lifecycle operations the MQTT commands use; displays never see the lifecycle.
 */
export interface KioskActions {
  /**
   * Signs the account out (then a fresh code, or "Not signed in"); `not_signed_in` when nobody is.
   * `from` is where the person pressed it, the `signed_out` event's reason.
   */
  signOut(from: 'kiosk_page' | 'touchscreen'): Promise<ActionOutcome>;
  /** Asks for a code; `wrong_state` unless the kiosk is "Not signed in" (`KIOSK_SIGN_IN=on_request`). */
  signIn(): ActionOutcome;
}

export interface DisplayDeps {
  config: DisplaysConfig;
  log: Logger;
  clock: Clock;
  /** The terminal display's screen when `KIOSK_TERMINAL` is `-`; defaults to process.stdout. Never a log target. */
  stdout?: NodeJS.WritableStream;
  /** Sign out and sign in from the screen; without them the kiosk page offers neither. */
  actions?: KioskActions;
  /**
   * The kiosk page's token for its POSTs (form field `csrf`): made once by `startDisplays`, so a page
   * still open keeps working when the web display is rebuilt after a failure.
   */
  pageToken?: string;
  /** `GET /metrics` on the kiosk page's server (KIOSK_METRICS=true): the Prometheus exposition, made on each scrape. */
  metrics?: () => string;
}

export type DisplayFactory = (deps: DisplayDeps) => Display;
