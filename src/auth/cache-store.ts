import fsp from 'node:fs/promises';
import { dirname } from 'node:path';
import { removeStaleTemps, writeAtomic } from '../atomic-file.js';
import { systemClock } from '../clock.js';
import type { Clock } from '../clock.js';
import { errnoCode, isENOENT } from '../errors.js';
import type { Logger } from '../log.js';
import { CacheCodec, CacheCorruptError } from './cache-file.js';
import { moveAside } from './cache-quarantine.js';

/** Larger than any real MSAL cache by far; a bigger file is not ours. */
const MAX_CACHE_BYTES = 16 * 1024 * 1024;

/** A failed write or removal of the cache file, as the agent may show it. Carries no content. */
export interface CacheWriteFailure {
  /** errno code (ENOSPC, EROFS, EACCES, ENOTDIR…), or the error's name when it has none. */
  readonly code: string;
  readonly operation: 'save' | 'clear';
  readonly path: string;
  /** ISO-8601 time of the failure. */
  readonly at: string;
}

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

/** What the store logs through: a pino `Logger` fits. */
export type CacheLog = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

type Operation = { readonly kind: 'save'; readonly plaintext: string } | { readonly kind: 'clear' };

/** Why the file on disk is kept but unread: it is encrypted, and not with the key given (or none is). */
export type CacheLock = 'key_mismatch' | 'no_key';
const LOCKS: ReadonlySet<string> = new Set<CacheLock>(['key_mismatch', 'no_key']);
export const LOCK_FIX = 'set KIOSK_CACHE_KEY to the key it was written with and restart; or send restart_sign_in to sign in afresh (the old cache is then moved aside)';

/** What to do about a failed write, by errno code: the log line a kiosk's operator acts on. */
const WRITE_FIXES: Readonly<Record<string, string>> = {
  ENOSPC: 'free space on the volume holding KIOSK_CACHE_PATH',
  EDQUOT: 'raise the disk quota of the volume holding KIOSK_CACHE_PATH, or free space on it',
  EROFS: 'the volume holding KIOSK_CACHE_PATH is read-only: mount it read-write, or point KIOSK_CACHE_PATH at a writable volume',
  EACCES: "give the agent's user write access to the directory of KIOSK_CACHE_PATH",
  EPERM: "give the agent's user write access to the directory of KIOSK_CACHE_PATH",
  ENOTDIR: 'a parent of KIOSK_CACHE_PATH is a file: point KIOSK_CACHE_PATH at a directory',
  EISDIR: 'KIOSK_CACHE_PATH is a directory: point it at a file name',
};
const fixFor = (code: string): string => WRITE_FIXES[code] ?? 'check that the directory of KIOSK_CACHE_PATH is writable';

/**
 * The persisted MSAL token cache (CONTRACT §3): read once, written atomically, encrypted when a key is
 * given. Nothing here throws into MSAL or the agent: an unusable file is moved aside and reads as "no
 * cache" (the user signs in again), a failed write is reported and retried with the next save.
 *
 * A well-formed encrypted file that the key given does not open (or that needs a key when none is
 * set) is not damaged: it is `locked`, left where it is and never written over, so the right key on the
 * next start brings the sign-in back. Only `replaceLocked()` (a deliberate fresh sign-in) lets the next
 * write move it aside first.
 *
 * Logs carry paths, reasons and errno codes, never cache content.
 */
export class CacheStore {
  readonly path: string;
  /** The last write or removal failure, until a later one succeeds. */
  lastWriteError: CacheWriteFailure | undefined;

  readonly #codec: CacheCodec;
  readonly #log: CacheLog;
  readonly #clock: Clock;
  readonly #onWriteError: ((failure: CacheWriteFailure) => void) | undefined;

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
  #lastOk = true;
  #tempsCleared: Promise<void> | undefined;
  #locked: CacheLock | undefined;
  #replaceLocked = false;
  #refusedLogged = false;

  constructor(options: CacheStoreOptions) {
    this.path = options.path;
    this.#codec = new CacheCodec(options.key);
    this.#log = options.log;
    this.#clock = options.clock ?? systemClock;
    this.#onWriteError = options.onWriteError;
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
    return this.#locked;
  }

  /** The next write (a fresh sign-in) may move a locked file aside and take its place. */
  replaceLocked(): void {
    if (this.#locked !== undefined) this.#replaceLocked = true;
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
    if (this.#locked !== undefined && !(await this.#unlockForWrite())) return;
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
      this.#reportFailure(op.kind, errnoCode(e));
      return;
    }
    this.#failed = undefined;
    if (!this.#lastOk) this.#log.info({ path: this.path }, 'token cache written again');
    this.#lastOk = true;
    this.lastWriteError = undefined;
  }

  /** True when a locked file may be written over: it has been moved aside for a deliberate fresh sign-in. */
  async #unlockForWrite(): Promise<boolean> {
    if (!this.#replaceLocked) {
      if (!this.#refusedLogged) this.#log.warn({ path: this.path, fix: LOCK_FIX }, 'token cache not written: the file on disk is encrypted with another key and is kept');
      this.#refusedLogged = true;
      return false;
    }
    // Never written over in place: if it cannot be moved aside, it stays, and so does the lock. Gone already: nothing to keep.
    const present = await fsp.lstat(this.path).then(() => true, (e: unknown) => !isENOENT(e));
    if (present && !(await moveAside(this.path, this.#clock, this.#log, 'encrypted with another KIOSK_CACHE_KEY', 'token cache of the other key moved aside for a fresh sign-in')))
      return false;
    this.#unlocked(undefined);
    return true;
  }

  #reportFailure(operation: 'save' | 'clear', code: string): void {
    const failure: CacheWriteFailure = { code, operation, path: this.path, at: new Date(this.#clock.now()).toISOString() };
    // One error line per failure streak, not one per MSAL cache access.
    if (this.#lastOk || this.lastWriteError?.code !== code)
      this.#log.error(
        { path: this.path, code, operation, fix: fixFor(code) },
        'token cache write failed; the sign-in is kept in memory but lost on restart; retrying on the next save',
      );
    this.#lastOk = false;
    this.lastWriteError = failure;
    try {
      this.#onWriteError?.(failure);
    } catch (e) {
      this.#log.warn({ code: errnoCode(e) }, 'onWriteError callback threw');
    }
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
      if (isENOENT(e)) return this.#unlocked(undefined);
      return this.#quarantine(`unreadable (${errnoCode(e)})`);
    }

    let plaintext: string;
    let encrypted: boolean;
    try {
      ({ plaintext, encrypted } = await this.#codec.decode(bytes));
    } catch (e) {
      if (e instanceof CacheCorruptError && LOCKS.has(e.code)) return this.#lock(e.code as CacheLock, e.reason);
      if (e instanceof CacheCorruptError) return this.#quarantine(e.reason);
      // Not the file's fault (e.g. scrypt out of memory): keep it, start without a cache.
      this.#log.error({ path: this.path, code: errnoCode(e) }, 'token cache could not be decoded; starting without it');
      return undefined;
    }
    if (this.#codec.encrypts && !encrypted) {
      this.#log.info({ path: this.path }, 'token cache is not encrypted; re-writing it encrypted with KIOSK_CACHE_KEY');
      await this.#enqueue({ kind: 'save', plaintext });
    }
    return this.#unlocked(plaintext);
  }

  #unlocked<T>(value: T): T {
    this.#locked = undefined;
    this.#replaceLocked = false;
    return value;
  }

  /** Keeps the file as it is; logged when it becomes locked, not at every re-read. */
  #lock(code: CacheLock, reason: string): undefined {
    if (this.#locked !== code) this.#log.warn({ path: this.path, reason, fix: LOCK_FIX }, 'token cache kept but not used: KIOSK_CACHE_KEY does not open it');
    if (this.#locked !== code) this.#refusedLogged = false;
    this.#locked = code;
    return undefined;
  }

  /** Moves the unusable file aside (logged once) and reads as "no cache". */
  async #quarantine(reason: string): Promise<undefined> {
    if (await moveAside(this.path, this.#clock, this.#log, reason)) this.#unlocked(undefined);
    return undefined;
  }
}
