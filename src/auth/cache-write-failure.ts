import type { Clock } from '../clock.js';
import { errnoCode } from '../errors.js';
import type { Logger } from '../log.js';

/** What the cache store logs through: a pino `Logger` fits. */
export type CacheLog = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

/** A failed write or removal of the cache file, as the agent may show it. Carries no content. */
export interface CacheWriteFailure {
  /** errno code (ENOSPC, EROFS, EACCES, ENOTDIR…), or the error's name when it has none. */
  readonly code: string;
  readonly operation: 'save' | 'clear';
  readonly path: string;
  /** ISO-8601 time of the failure. */
  readonly at: string;
}

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
 * The cache file's write failures as an operator sees them: one error line per failure streak (not one
 * per MSAL cache access) with the fix for its errno code, a line when writes work again, the last
 * failure until then, and the store's `onWriteError` callback, contained.
 */
export class CacheWriteReport {
  /** The last write or removal failure, until a later one succeeds. */
  last: CacheWriteFailure | undefined;
  #ok = true;

  constructor(
    private readonly path: string,
    private readonly log: CacheLog,
    private readonly clock: Clock,
    private readonly onWriteError?: (failure: CacheWriteFailure) => void,
  ) {}

  failed(operation: 'save' | 'clear', code: string): void {
    const failure: CacheWriteFailure = { code, operation, path: this.path, at: new Date(this.clock.now()).toISOString() };
    if (this.#ok || this.last?.code !== code)
      this.log.error(
        { path: this.path, code, operation, fix: fixFor(code) },
        'token cache write failed; the sign-in is kept in memory but lost on restart; retrying on the next save',
      );
    this.#ok = false;
    this.last = failure;
    try {
      this.onWriteError?.(failure);
    } catch (e) {
      this.log.warn({ code: errnoCode(e) }, 'onWriteError callback threw');
    }
  }

  succeeded(): void {
    if (!this.#ok) this.log.info({ path: this.path }, 'token cache written again');
    this.#ok = true;
    this.last = undefined;
  }
}
