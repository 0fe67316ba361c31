import { within } from '../clock.js';
import type { DisplayName } from '../config.js';
import { errnoCode, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import type { Machine } from '../state.js';
import type { Display, DisplayDeps, DisplayFactory } from './display.js';
import { framebufferDisplay } from './framebuffer.js';
import { terminalDisplay } from './terminal.js';
import { newPageToken } from './web-guard.js';
import { webDisplay } from './web.js';
import { kioskLabel, toView } from './view.js';
import type { View } from './view.js';

export type { ActionOutcome, Display, DisplayDeps, DisplayFactory, KioskActions } from './display.js';
export type { View } from './view.js';

/** Every display name `KIOSK_DISPLAY` accepts, with what builds it. */
export type DisplayFactories = Readonly<Record<DisplayName, DisplayFactory>>;

export const DISPLAY_FACTORIES: DisplayFactories = Object.freeze({
  terminal: terminalDisplay,
  framebuffer: framebufferDisplay,
  web: webDisplay,
});

export interface RunningDisplays {
  stop(): Promise<void>;
}

/** Backoff for a failing display: 1 s, doubling, at most 30 s; reset by a successful render. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;
/** How long `stop` waits for a display that is still starting. */
const STOP_WAIT_MS = 2_000;


/** Milliseconds until a countdown to `at` next changes its whole-second value. */
function untilNextSecond(at: number | undefined, now: number): number {
  if (at === undefined || at <= now) return 1_000;
  return ((at - now) % 1_000 || 1_000) + 5;
}

/**
 * One configured display, kept alive: each attempt builds a fresh display from the factory; a
 * throw from start or render is logged, the display stopped and a new one started after a backoff.
 * Renders are serialised and coalesced (only the newest pending view is drawn).
 */
class Slot {
  private display: Display | undefined;
  private ready = false;
  private stopped = false;
  private pending: View | undefined;
  private busy = false;
  private rendering: Promise<void> | undefined;
  private starting: Promise<void> | undefined;
  private failures = 0;
  /** When the current display started; one that fails soon after counts as failing again (backoff grows). */
  private startedAt = 0;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    readonly name: DisplayName,
    private readonly factory: DisplayFactory,
    private readonly deps: DisplayDeps,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.starting = this.attempt().finally(() => (this.starting = undefined));
  }

  show(view: View): void {
    this.pending = view;
    if (!this.busy) this.rendering = this.drain();
  }

  private async attempt(): Promise<void> {
    try {
      this.display = this.factory(this.deps);
      await this.display.start();
    } catch (e) {
      return this.fail('start', e);
    }
    if (this.stopped) return;
    this.ready = true;
    this.startedAt = this.deps.clock.now();
    if (this.pending !== undefined) this.show(this.pending);
  }

  /** Draws pending views one at a time; `busy` is set and cleared synchronously, so no view is left behind. */
  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.ready && !this.stopped && this.pending !== undefined && this.display !== undefined) {
        const view = this.pending;
        this.pending = undefined;
        try {
          await this.display.render(view);
        } catch (e) {
          this.pending ??= view;
          await this.fail('render', e);
        }
      }
    } finally {
      this.busy = false;
    }
  }

  private async fail(phase: 'start' | 'render', e: unknown): Promise<void> {
    // A render can succeed and the stream still fail a moment later (EPIPE on a closed stdout): only a
    // display that stayed up past the longest backoff starts again from the shortest.
    if (this.ready && this.deps.clock.now() - this.startedAt > RETRY_MAX_MS) this.failures = 0;
    this.ready = false;
    const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** this.failures);
    this.failures += 1;
    await this.release();
    if (!this.stopped) {
      this.retry = this.deps.clock.setTimeout(() => this.start(), delay);
      this.retry.unref?.();
    }
    this.log.warn(
      { display: this.name, phase, code: errnoCode(e), err: messageOf(e), retryInMs: delay },
      `display ${this.name} failed to ${phase} (${errnoCode(e)}); retrying in ${Math.ceil(delay / 1000)} s`,
    );
  }

  private async release(): Promise<void> {
    const display = this.display;
    this.display = undefined;
    try {
      await display?.stop();
    } catch (e) {
      this.log.debug({ display: this.name, code: errnoCode(e), err: messageOf(e) }, 'display stop failed');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.deps.clock.clearTimeout(this.retry);
    const wait = (p: Promise<void> | undefined): Promise<unknown> => (p === undefined ? Promise.resolve() : within(p, STOP_WAIT_MS, this.deps.clock, true));
    await wait(this.starting);
    await wait(this.rendering);
    this.ready = false;
    await this.release();
  }
}

/**
 * The displays to run. With KIOSK_TERMINAL=auto (the container image's default) the terminal on a stdout
 * that is no TTY (`docker logs`) would interleave its screens with the JSON logs on stderr: when a screen
 * of the kiosk's own (framebuffer, web) is configured beside it, it is left out. Alone it stays, the only
 * screen there is; with `-` it always draws on stdout.
 */
export function displaysToRun(config: DisplayDeps['config'], stdout: NodeJS.WritableStream & { isTTY?: boolean }): DisplayName[] {
  const others = config.displays.some((d) => d !== 'terminal');
  if (config.terminal !== 'auto' || stdout.isTTY === true || !others) return [...config.displays];
  return config.displays.filter((d) => d !== 'terminal');
}

/**
 * Builds the configured displays and keeps them showing the machine's state: a render on every
 * `state` and `claims` change, and once a second while something counts down (one shared,
 * unref'd timer). Failing displays are retried; nothing here throws into the machine.
 */
export function startDisplays(machine: Machine, given: DisplayDeps, factories: DisplayFactories = DISPLAY_FACTORIES): RunningDisplays {
  const deps: DisplayDeps = { ...given, pageToken: given.pageToken ?? newPageToken() };
  const log = deps.log.child({ module: 'displays' });
  const slots: Slot[] = [];
  const names = displaysToRun(deps.config, deps.stdout ?? process.stdout);
  if (names.length < deps.config.displays.length)
    log.info('terminal display left out (KIOSK_TERMINAL=auto): stdout is no TTY (docker logs) and KIOSK_DISPLAY has a screen of its own; set KIOSK_TERMINAL=- or /dev/tty1 to have it');
  for (const name of names) slots.push(new Slot(name, factories[name], deps, log));

  let ticker: NodeJS.Timeout | undefined;
  let stopped = false;
  const update = (): void => {
    if (stopped) return;
    deps.clock.clearTimeout(ticker);
    ticker = undefined;
    try {
      const snapshot = machine.snapshot;
      const now = deps.clock.now();
      const view = toView(snapshot, machine.claims, now, kioskLabel(deps.config), deps.config.timeZone);
      for (const slot of slots) slot.show(view);
      if (view.ticking) {
        const at = snapshot.state === 'awaiting_sign_in' ? snapshot.expiresAt : snapshot.retryAt;
        ticker = deps.clock.setTimeout(update, untilNextSecond(at, now));
        ticker.unref?.();
      }
    } catch (e) {
      log.error({ code: errnoCode(e), err: messageOf(e) }, 'display update failed');
    }
  };

  machine.on('state', update);
  machine.on('claims', update);
  for (const slot of slots) slot.start();
  update();

  return {
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      machine.off('state', update);
      machine.off('claims', update);
      deps.clock.clearTimeout(ticker);
      await Promise.allSettled(slots.map((s) => s.stop()));
    },
  };
}
