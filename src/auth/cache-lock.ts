import fsp from 'node:fs/promises';
import type { Clock } from '../clock.js';
import { isENOENT } from '../errors.js';
import { moveAside } from './cache-quarantine.js';
import type { CacheLog } from './cache-write-failure.js';

/** Why the file on disk is kept but unread: it is encrypted, and not with the key given (or none is). */
export type CacheLock = 'key_mismatch' | 'no_key';
const LOCKS: ReadonlySet<string> = new Set<CacheLock>(['key_mismatch', 'no_key']);
export const LOCK_FIX = 'set KIOSK_CACHE_KEY to the key it was written with and restart; or send restart_sign_in to sign in afresh (the old cache is then moved aside)';

export const isLock = (code: string): code is CacheLock => LOCKS.has(code);

/**
 * A well-formed encrypted cache file the key given does not open (or that needs a key when none is
 * set) is not damaged: it is locked, kept where it is and never written over, so the right key on the
 * next start brings the sign-in back. Only `replaceLocked()` (a deliberate fresh sign-in) lets the next
 * write move it aside first. Logged when it becomes locked and at the first refused write, not at every one.
 */
export class CacheLockState {
  #locked: CacheLock | undefined;
  #replace = false;
  #refusedLogged = false;

  constructor(
    private readonly path: string,
    private readonly log: CacheLog,
    private readonly clock: Clock,
  ) {}

  get locked(): CacheLock | undefined {
    return this.#locked;
  }

  replaceLocked(): void {
    if (this.#locked !== undefined) this.#replace = true;
  }

  /** True when the file may be written: not locked, or moved aside for a deliberate fresh sign-in. */
  async mayWrite(): Promise<boolean> {
    if (this.#locked === undefined) return true;
    if (!this.#replace) {
      if (!this.#refusedLogged) this.log.warn({ path: this.path, fix: LOCK_FIX }, 'token cache not written: the file on disk is encrypted with another key and is kept');
      this.#refusedLogged = true;
      return false;
    }
    // Never written over in place: if it cannot be moved aside, it stays, and so does the lock. Gone already: nothing to keep.
    const present = await fsp.lstat(this.path).then(() => true, (e: unknown) => !isENOENT(e));
    if (present && !(await moveAside(this.path, this.clock, this.log, 'encrypted with another KIOSK_CACHE_KEY', 'token cache of the other key moved aside for a fresh sign-in')))
      return false;
    this.unlocked(undefined);
    return true;
  }

  /** The file is readable (or gone): no lock. Returns `value` for the reader's convenience. */
  unlocked<T>(value: T): T {
    this.#locked = undefined;
    this.#replace = false;
    return value;
  }

  /** Keeps the file as it is; reads as "no cache". */
  lock(code: CacheLock, reason: string): undefined {
    if (this.#locked !== code) this.log.warn({ path: this.path, reason, fix: LOCK_FIX }, 'token cache kept but not used: KIOSK_CACHE_KEY does not open it');
    if (this.#locked !== code) this.#refusedLogged = false;
    this.#locked = code;
    return undefined;
  }
}
