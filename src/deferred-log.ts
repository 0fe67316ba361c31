import type { Bindings } from 'pino';
import type { Logger } from './log.js';

/** pino's level values (`pino.levels.values`), for the entries held before it has loaded. */
const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
type Level = keyof typeof LEVELS;
const NAMES = Object.keys(LEVELS) as Level[];

/** Makes the real log once asked to; `now` is the clock it must stamp entries with. */
export type CreateLog = (now: () => number) => Promise<Logger>;

/**
 * A boot's log before pino is loaded. Loading pino costs about a tenth of a first boot here (10 ms of
 * 110 ms to the code on screen), so `kiosk-agent run` loads it once the first frame is drawn (and on
 * MQTT). Until then each entry at or above the level is held as it was made (its logger's bindings,
 * its arguments, its time), and `load` writes them through pino, in order, with pino's redaction and
 * their own times; after that every call goes straight to pino.
 */
export class DeferredLog {
  readonly log: Logger;
  private readonly held: Array<{ readonly from: Branch; readonly level: Level; readonly args: unknown[]; readonly at: number }> = [];
  private readonly threshold: number;
  private root?: Logger;
  private loading?: Promise<void>;
  /** While held entries are written: the time pino stamps on them. */
  private replaying?: number;

  constructor(level: string, private readonly create: CreateLog, private readonly now: () => number = Date.now) {
    this.threshold = level in LEVELS ? LEVELS[level as Level] : Infinity;
    this.log = new Branch(this).logger;
  }

  /** Whether entries now go straight to pino. */
  get loaded(): boolean {
    return this.root !== undefined;
  }

  /** Loads pino and writes the held entries (once; later calls wait for the same load). */
  load(): Promise<void> {
    return (this.loading ??= this.create(() => this.replaying ?? this.now()).then((root) => {
      for (const h of this.held.splice(0)) {
        this.replaying = h.at;
        try {
          call(h.from.real(root), h.level, h.args);
        } finally {
          this.replaying = undefined;
        }
      }
      this.root = root;
    }));
  }

  /** Runs `then` once every entry so far is written: at once when pino is loaded, else after `load`. */
  written(then: () => void): void {
    if (this.root !== undefined) return then();
    this.load().then(then, then);
  }

  /** @internal */
  write(from: Branch, level: Level, args: unknown[]): void {
    if (this.root !== undefined) return call(from.real(this.root), level, args);
    if (LEVELS[level] >= this.threshold) this.held.push({ from, level, args, at: this.now() });
  }

  /** @internal */
  enabled(level: string): boolean {
    return this.root !== undefined ? this.root.isLevelEnabled(level) : level in LEVELS && LEVELS[level as Level] >= this.threshold;
  }
}

/** One logger of the tree `child` makes: its bindings, and pino's logger for them once pino is loaded. */
class Branch {
  readonly logger: Logger;
  private pino?: Logger;

  constructor(private readonly owner: DeferredLog, private readonly parent?: Branch, private readonly bindings?: Bindings) {
    const logger: Record<string, unknown> = {
      child: (b: Bindings) => new Branch(owner, this, b).logger,
      isLevelEnabled: (level: string) => owner.enabled(level),
    };
    for (const level of NAMES) logger[level] = (...args: unknown[]) => owner.write(this, level, args);
    this.logger = logger as unknown as Logger;
  }

  real(root: Logger): Logger {
    return (this.pino ??= this.parent === undefined ? root : this.parent.real(root).child(this.bindings ?? {}));
  }
}

function call(log: Logger, level: Level, args: unknown[]): void {
  (log[level] as (...a: unknown[]) => void)(...args);
}
