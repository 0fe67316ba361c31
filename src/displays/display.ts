import type { Clock } from '../clock.js';
import type { Config, DisplayName } from '../config.js';
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

export interface DisplayDeps {
  config: Config;
  log: Logger;
  clock: Clock;
  /** The terminal display's screen when `KIOSK_TERMINAL` is `-`; defaults to process.stdout. Never a log target. */
  stdout?: NodeJS.WritableStream;
}

export type DisplayFactory = (deps: DisplayDeps) => Display;
