import fsp from 'node:fs/promises';
import { dirname } from 'node:path';
import { removeStaleTemps, writeAtomic } from '../atomic-file.js';
import { systemClock } from '../clock.js';
import type { Clock } from '../clock.js';
import { errnoCode, isENOENT } from '../errors.js';
import { CacheCodec, CacheCorruptError } from './cache-file.js';
import { CacheLockState, isLock } from './cache-lock.js';
import type { CacheLock } from './cache-lock.js';
import { moveAside } from './cache-quarantine.js';
import { CacheWriteReport } from './cache-write-failure.js';
import type { CacheLog, CacheWriteFailure } from './cache-write-failure.js';

export type { CacheLog, CacheWriteFailure } from './cache-write-failure.js';
export { LOCK_FIX } from './cache-lock.js';
export type { CacheLock } from './cache-lock.js';

/** Larger than any real MSAL cache by far; a bigger file is not ours. */
const MAX_CACHE_BYTES = 16 * 1024 * 1024;

export interface CacheStoreOptions {
  /** KIOSK_CACHE_PATH. */
  readonly path: string;
  /** KIOSK_CACHE_KEY (at least 16 characters): the file is encrypted at rest when set. */
  readonly key?: string;
  readonly log: CacheLog;
  readonly clock?: Clock;
  /** Called after each failed write or removal; the store retries on the next save. */
  readonly onWriteError?: (failure: CacheWriteFailure) => void;
}

type Operation = { readonly kind: 'save'; readonly plaintext: string } | { readonly kind: 'clear' };

/**
 * The persisted MSAL token cache (CONTRACT §3): read once, written atomically, encrypted when a key is
 * given. Nothing here throws into MSAL or the agent: an unusable file is moved aside and reads as "no
 * cache" (the user signs in again), a failed write is reported and retried with the next save.
 *
 * A well-formed encrypted file that the key given does not open is not damaged: it is `locked`
 * (`CacheLockState`, src/auth/cache-lock.ts), kept and never written over until `replaceLocked()`.
 *
 * Logs carry paths, reasons and errno codes, never cache content.
 */
export class CacheStore {
  readonly path: string;

  readonly #codec: CacheCodec;
  readonly #log: CacheLog;
  readonly #clock: Clock;
  readonly #writes: CacheWriteReport;

  /** In-memory copy of the plaintext once loaded or saved (`current()`). */
  #memory: { readonly plaintext: string | undefined } | undefined;
  #loading: Promise<string | undefined> | undefined;
  /** Bumped by every save or clear: a load that started earlier must not overwrite the memory. */
  #generation = 0;

  /** The next operation to run (later calls replace it: latest wins), and the drain loop running it. */
  #next: Operation | undefined;
  #draining: Promise<void> | undefined;
  /** The operation that failed last, retried by `flush()` when nothing newer came. */
  #failed: Operation | undefined;
  #tempsCleared: Promise<void> | undefined;
  readonly #lock: CacheLockState;

  constructor(options: CacheStoreOptions) {
    this.path = options.path;
    this.#codec = new CacheCodec(options.key);
    this.#log = options.log;
    this.#clock = options.clock ?? systemClock;
    this.#lock = new CacheLockState(this.path, this.#log, this.#clock);
    this.#writes = new CacheWriteReport(this.path, this.#log, this.#clock, options.onWriteError);
  }

  /** The last write or removal failure, until a later one succeeds. */
  get lastWriteError(): CacheWriteFailure | undefined {
    return this.#writes.last;
  }

  /**
   * Reads the file: the plaintext cache, or undefined when there is none or it is unusable. An
   * unusable file (unreadable, not a regular file, corrupt, truncated, wrong key, encrypted with no
   * key) is renamed to `<path>.corrupt-<time>` and logged once. A plain file while a key is set is
   * re-written encrypted. Never throws.
   */
  async load(): Promise<string | undefined> {
    const generation = this.#generation;
    const plaintext = await this.#read();
    if (generation === this.#generation) this.#memory = { plaintext };
    return plaintext;
  }

  /** The in-memory plaintext, read from disk only the first time (what MSAL's plugin deserializes). */
  async current(): Promise<string | undefined> {
    if (this.#memory !== undefined) return this.#memory.plaintext;
    this.#loading ??= this.load().finally(() => (this.#loading = undefined));
    return this.#loading;
  }

  /**
   * Stores `plaintext` (MSAL's serialized cache). Writes run one at a time; saves made while one runs
   * are coalesced (the latest wins). Resolves when this content, or a later one, has been written or
   * has failed (then `lastWriteError` says why, and `onWriteError` was called). Never rejects.
   */
  save(plaintext: string): Promise<void> {
    this.#generation++;
    this.#memory = { plaintext };
    return this.#enqueue({ kind: 'save', plaintext });
  }

  /**
   * Removes the cache file (sign-out); same queue and reporting as `save`. MSAL's in-memory cache is
   * not touched: see `createCachePlugin` for signing out.
   */
  clear(): Promise<void> {
    this.#generation++;
    this.#memory = { plaintext: undefined };
    return this.#enqueue({ kind: 'clear' });
  }

  /** Set while the file on disk is encrypted under another key (or needs one): it is kept and not written. */
  get locked(): CacheLock | undefined {
    return this.#lock.locked;
  }

  /** The next write (a fresh sign-in) may move a locked file aside and take its place. */
  replaceLocked(): void {
    this.#lock.replaceLocked();
  }

  /**
   * Waits for queued writes (shutdown). When the last write failed and nothing newer was saved, it is
   * tried once more (`lastWriteError` then tells whether the file is current). Never rejects.
   */
  async flush(): Promise<void> {
    while (this.#draining !== undefined) await this.#draining;
    if (this.#failed !== undefined) await this.#enqueue(this.#failed);
  }

  #enqueue(op: Operation): Promise<void> {
    this.#next = op;
    this.#draining ??= this.#drain();
    return this.#draining;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#next !== undefined) {
        const op = this.#next;
        this.#next = undefined;
        await this.#run(op);
      }
    } finally {
      // Synchronous with the loop's last check: an enqueue after this starts a new drain.
      this.#draining = undefined;
    }
  }

  async #run(op: Operation): Promise<void> {
    if (!(await this.#lock.mayWrite())) return;
    try {
      if (op.kind === 'save') {
        const bytes = await this.#codec.encode(op.plaintext);
        await this.#clearTemps();
        try {
          await writeAtomic(this.path, bytes, 0o600);
        } catch (e) {
          if (!isENOENT(e)) throw e;
          // First write on a fresh volume: create the directory, private to the agent.
          await fsp.mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
          await writeAtomic(this.path, bytes, 0o600);
        }
      } else {
        await fsp.rm(this.path, { force: true });
      }
    } catch (e) {
      this.#failed = op;
      this.#writes.failed(op.kind, errnoCode(e));
      return;
    }
    this.#failed = undefined;
    this.#writes.succeeded();
  }

  /** Leftovers of a writer killed mid-write, cleared once, before this process's first write or read. */
  #clearTemps(): Promise<void> {
    this.#tempsCleared ??= this.#removeTemps();
    return this.#tempsCleared;
  }

  async #removeTemps(): Promise<void> {
    try {
      const removed = await removeStaleTemps(this.path);
      if (removed.length > 0) this.#log.info({ path: this.path, count: removed.length }, 'removed temp files of an interrupted cache write');
    } catch (e) {
      this.#log.debug({ path: this.path, code: errnoCode(e) }, 'could not clear temp files');
    }
  }

  async #read(): Promise<string | undefined> {
    // A temp being written by this store must not be taken for a leftover: let writes finish first.
    while (this.#draining !== undefined) await this.#draining;
    await this.#clearTemps();

    let bytes: Buffer;
    try {
      const stat = await fsp.stat(this.path);
      // Checked before opening: a FIFO would block, a directory or device is not ours.
      if (!stat.isFile()) return await this.#quarantine('not a regular file');
      if (stat.size > MAX_CACHE_BYTES) return await this.#quarantine('too large');
      bytes = await fsp.readFile(this.path);
    } catch (e) {
      if (isENOENT(e)) return this.#lock.unlocked(undefined);
      return this.#quarantine(`unreadable (${errnoCode(e)})`);
    }

    let plaintext: string;
    let encrypted: boolean;
    try {
      ({ plaintext, encrypted } = await this.#codec.decode(bytes));
    } catch (e) {
      if (e instanceof CacheCorruptError && isLock(e.code)) return this.#lock.lock(e.code, e.reason);
      if (e instanceof CacheCorruptError) return this.#quarantine(e.reason);
      // Not the file's fault (e.g. scrypt out of memory): keep it, start without a cache.
      this.#log.error({ path: this.path, code: errnoCode(e) }, 'token cache could not be decoded; starting without it');
      return undefined;
    }
    if (this.#codec.encrypts && !encrypted) {
      this.#log.info({ path: this.path }, 'token cache is not encrypted; re-writing it encrypted with KIOSK_CACHE_KEY');
      await this.#enqueue({ kind: 'save', plaintext });
    }
    return this.#lock.unlocked(plaintext);
  }

  /** Moves the unusable file aside (logged once) and reads as "no cache". */
  async #quarantine(reason: string): Promise<undefined> {
    if (await moveAside(this.path, this.#clock, this.#log, reason)) this.#lock.unlocked(undefined);
    return undefined;
  }
}
