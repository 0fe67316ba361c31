import fsp from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Clock } from '../clock.js';
import { errnoCode, isENOENT } from '../errors.js';
import type { Logger } from '../log.js';

/** Moved-aside caches kept next to KIOSK_CACHE_PATH, the newest. */
const QUARANTINE_KEPT = 3;


/** ISO 8601 basic format (no colons: valid on every filesystem, and sorts by time). */
const fileTime = (ms: number): string => new Date(ms).toISOString().replace(/[-:]/g, '');

/**
 * Renames the cache file to `<path>.corrupt-<time>` (byte for byte, for an operator to inspect), keeps the
 * newest few such files, logs once. False when it could not be moved (it is then where it was).
 */
export async function moveAside(
  path: string, clock: Clock, log: Pick<Logger, 'warn' | 'debug'>, reason: string, message = 'token cache unusable; moved aside, sign-in needed',
): Promise<boolean> {
  const dir = dirname(path);
  const prefix = `${basename(path)}.corrupt-`;
  const stamp = fileTime(clock.now());
  let name = `${prefix}${stamp}`;
  try {
    for (let i = 1; await exists(join(dir, name)); i++) name = `${prefix}${stamp}-${i}`;
    await fsp.rename(path, join(dir, name));
    log.warn({ path, movedTo: join(dir, name), reason }, message);
  } catch (e) {
    log.warn({ path, reason, code: errnoCode(e) }, 'token cache unusable and could not be moved aside; sign-in needed');
    return false;
  }
  try {
    // The one just moved is kept whatever its time says (a kiosk without RTC may boot in the past);
    // of the others, the oldest by name (time) go.
    const others = (await fsp.readdir(dir)).filter((e) => e.startsWith(prefix) && e !== name).sort();
    for (const old of others.slice(0, Math.max(0, others.length - (QUARANTINE_KEPT - 1))))
      await fsp.rm(join(dir, old), { recursive: true, force: true });
  } catch (e) {
    log.debug({ path, code: errnoCode(e) }, 'could not prune old quarantined caches');
  }
  return true;
}

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return true;
  } catch (e) {
    if (isENOENT(e)) return false;
    throw e;
  }
}
