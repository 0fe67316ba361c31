import { constants, createWriteStream, open } from 'node:fs';
import type { Writable } from 'node:stream';
import { isatty, WriteStream as TtyStream } from 'node:tty';
import type { DisplayName } from '../config.js';
import type { Display, DisplayDeps } from './display.js';
import { plainLines, ttyLines } from './terminal-layout.js';
import type { View } from './view.js';

/** A writable that may be a TTY (process.stdout, a tty.WriteStream, or a test double that says so). */
type Screen = NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };

const HOME = '\x1b[H';
const CLEAR_LINE = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';
const CLEAR_SCREEN = '\x1b[2J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const RESET = '\x1b[0m';
/** What a TTY that does not report its size (a serial line, say) is assumed to be. */
const FALLBACK_SIZE = { columns: 80, rows: 24 };
const CLOSE_WAIT_MS = 1_000;

/**
 * Opens a device for writing: never creates a file (a missing device is an error worth a retry,
 * not a new file in /dev), and O_NOCTTY so the agent never takes the console as its controlling
 * terminal (it may be a session leader, e.g. PID 1 in a container).
 */
function openDevice(path: string): Promise<Screen> {
  return new Promise((resolve, reject) => {
    open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_NOCTTY, (err, fd) => {
      if (err) return reject(err);
      resolve(isatty(fd) ? new TtyStream(fd) : createWriteStream(path, { fd }));
    });
  });
}

/**
 * CONTRACT §4 `terminal`: draws on `KIOSK_TERMINAL` (`-` is stdout). On a TTY it redraws in place
 * (home, draw, clear the rest; cursor hidden while running); otherwise it prints a plain text
 * block only when something other than a countdown changes.
 */
export class TerminalDisplay implements Display {
  readonly name: DisplayName = 'terminal';
  private screen: Screen | undefined;
  private owned = false;
  private tty = false;
  private failure: Error | undefined;
  private last = '';
  private lastView: View | undefined;
  private readonly onError = (e: Error): void => {
    this.failure ??= e;
  };
  private readonly onResize = (): void => {
    if (this.lastView === undefined || this.failure !== undefined) return;
    try {
      this.draw(this.lastView);
    } catch (e) {
      this.failure ??= e instanceof Error ? e : new Error(String(e));
    }
  };

  constructor(private readonly deps: DisplayDeps) {}

  async start(): Promise<void> {
    const target = this.deps.config.terminal;
    const stdout = target === '-' || target === 'auto';
    const screen: Screen = stdout ? (this.deps.stdout ?? process.stdout) : await openDevice(target);
    this.screen = screen;
    this.owned = !stdout;
    this.tty = screen.isTTY === true;
    this.failure = undefined;
    this.last = '';
    if (!this.owned) allowListeners(screen, 1);
    screen.on('error', this.onError);
    if (this.tty) {
      screen.on('resize', this.onResize);
      // With KIOSK_TERMINAL_ROWS the display owns only its rows: what the rest of the screen shows stays.
      screen.write(`${RESET}${HIDE_CURSOR}${this.deps.config.terminalRows === undefined ? CLEAR_SCREEN : ''}`);
    }
  }

  render(view: View): void {
    if (this.failure !== undefined) throw this.failure;
    this.lastView = view;
    this.draw(view);
  }

  private draw(view: View): void {
    const screen = this.screen;
    if (screen === undefined) throw new Error('terminal display is not started');
    let frame: string;
    if (this.tty) {
      const own = this.deps.config.terminalRows;
      const rows = Math.min(screen.rows || FALLBACK_SIZE.rows, own ?? Infinity);
      const lines = ttyLines(view, { columns: screen.columns || FALLBACK_SIZE.columns, rows });
      // Within its own rows every line is drawn (blank ones too), so nothing below them is touched.
      if (own !== undefined) while (lines.length < rows) lines.push('');
      // No newline after the last row, so a full screen never scrolls.
      frame = `${HOME}${lines.map((l) => `${l}${RESET}${CLEAR_LINE}`).join('\r\n')}${own === undefined ? CLEAR_BELOW : ''}`;
    } else {
      frame = `${plainLines(view).join('\n')}\n\n`;
    }
    if (frame === this.last) return;
    this.last = frame;
    screen.write(frame);
  }

  async stop(): Promise<void> {
    const screen = this.screen;
    this.screen = undefined;
    if (screen === undefined) return;
    screen.removeListener('resize', this.onResize);
    if (this.tty && this.failure === undefined) screen.write(`${RESET}${SHOW_CURSOR}\r\n`);
    if (this.owned) await closeStream(screen);
    screen.removeListener('error', this.onError);
    if (!this.owned) allowListeners(screen, -1);
  }
}

/**
 * Several agents in one process share stdout, one display each: their `error` and `resize` listeners
 * are intended, not a leak (no MaxListenersExceededWarning). A limit of 0 (none) stays none.
 */
function allowListeners(screen: Screen, change: number): void {
  const max = screen.getMaxListeners();
  if (max > 0) screen.setMaxListeners(max + change);
}

/** Ends a stream this display opened; gives up waiting after a second (a wedged tty must not hold up shutdown). */
function closeStream(screen: Screen): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      (screen as Partial<Writable>).destroy?.();
      done();
    }, CLOSE_WAIT_MS);
    timer.unref();
    screen.once('close', done);
    screen.once('error', done);
    screen.end();
    function done(): void {
      clearTimeout(timer);
      resolve();
    }
  });
}

export const terminalDisplay = (deps: DisplayDeps): Display => new TerminalDisplay(deps);
