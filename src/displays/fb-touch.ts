import { errnoCode, messageOf } from '../errors.js';
import type { DisplayDeps, KioskActions } from './display.js';
import type { Hit, TouchUi } from './fb-buttons.js';
import { TouchReader } from './touch.js';
import type { Tap } from './touch.js';
import type { View } from './view.js';

/** A touchscreen that cannot be opened (missing, unplugged, no permission) is tried again this often. */
const RETRY_MS = 5_000;
/** A confirm step nobody answers goes away by itself (a person walked off). */
const CONFIRM_MS = 20_000;

const SIGN_OUT = 'Sign out';
const YES = 'Yes, sign out';
const CANCEL = 'Cancel';
const SIGN_IN = 'Sign in';

/**
 * The framebuffer's touch controls (CONTRACT §9, addition): the kiosk page's Sign out (with its confirm
 * step, `KIOSK_WEB_SIGN_OUT=true`) and Sign in (`KIOSK_SIGN_IN=on_request`) as buttons on the screen,
 * answered from `KIOSK_TOUCH`. The actions are the same `KioskActions` the page uses. A touchscreen
 * that fails is logged and retried; it never stops the framebuffer.
 */
export class TouchControls {
  private reader: TouchReader | undefined;
  private retry: NodeJS.Timeout | undefined;
  private confirm: NodeJS.Timeout | undefined;
  private asking = false;
  private stopped = false;
  private hits: readonly Hit[] = [];
  private screen = { width: 1, height: 1 };

  constructor(
    private readonly deps: DisplayDeps & { actions: KioskActions; config: { touch: NonNullable<DisplayDeps['config']['touch']> } },
    /** Draws the last view again (the buttons changed). */
    private readonly redraw: () => void,
  ) {}

  start(): void {
    this.stopped = false;
    void this.open();
  }

  /** The buttons for `view`, or none. */
  ui(view: View): TouchUi | undefined {
    const { config } = this.deps;
    if (view.state !== 'signed_in') this.answered();
    if (view.state === 'signed_in' && config.web.signOut) {
      if (!this.asking) return { buttons: [{ label: SIGN_OUT, primary: true }] };
      const who = view.accountName === undefined ? 'Sign out?' : `Sign out ${view.accountName}?`;
      return { question: who, buttons: [{ label: YES, primary: true }, { label: CANCEL, primary: false }] };
    }
    if (view.notSignedIn === true && config.signIn === 'on_request') return { buttons: [{ label: SIGN_IN, primary: true }] };
    return undefined;
  }

  /** Where the buttons of the frame on screen are, and the screen's size. */
  shown(hits: readonly Hit[], width: number, height: number): void {
    this.hits = hits;
    this.screen = { width, height };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.deps.clock.clearTimeout(this.retry);
    this.answered();
    const reader = this.reader;
    this.reader = undefined;
    await reader?.stop();
  }

  private async open(): Promise<void> {
    const { path } = this.deps.config.touch;
    const reader = new TouchReader(path, (tap) => this.tap(tap), this.deps.clock, (e) => this.failed(e));
    try {
      await reader.start();
    } catch (e) {
      return this.failed(e);
    }
    if (this.stopped) return void reader.stop();
    this.reader = reader;
    this.deps.log.info({ display: 'framebuffer', path }, 'touchscreen open');
  }

  private failed(e: unknown): void {
    this.reader = undefined;
    if (this.stopped) return;
    const code = errnoCode(e);
    this.deps.log.warn({ display: 'framebuffer', path: this.deps.config.touch.path, code, err: messageOf(e), retryInMs: RETRY_MS }, `touchscreen failed (${code}); retrying in ${RETRY_MS / 1000} s`);
    this.retry = this.deps.clock.setTimeout(() => void this.open(), RETRY_MS);
    this.retry.unref?.();
  }

  private tap(tap: Tap): void {
    const range = this.deps.config.touch.range ?? this.screen;
    const x = Math.floor((tap.x * this.screen.width) / range.width);
    const y = Math.floor((tap.y * this.screen.height) / range.height);
    const hit = this.hits.find((h) => x >= h.x && x < h.x + h.w && y >= h.y && y < h.y + h.h);
    if (hit === undefined) return;
    const { actions, log } = this.deps;
    log.info({ display: 'framebuffer', button: hit.label }, 'touchscreen button pressed');
    switch (hit.label) {
      case SIGN_OUT:
        this.asking = true;
        this.confirm = this.deps.clock.setTimeout(() => (this.answered(), this.redraw()), CONFIRM_MS);
        this.confirm.unref?.();
        break;
      case CANCEL:
        this.answered();
        break;
      case YES:
        this.answered();
        actions.signOut('touchscreen').catch((e: unknown) => log.error({ display: 'framebuffer', err: e }, 'sign-out from the touchscreen failed'));
        break;
      case SIGN_IN:
        actions.signIn();
        break;
    }
    this.redraw();
  }

  private answered(): void {
    this.asking = false;
    this.deps.clock.clearTimeout(this.confirm);
    this.confirm = undefined;
  }
}
