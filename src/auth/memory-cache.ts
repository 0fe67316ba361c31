import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errnoCode, isENOENT } from '../errors.js';
import type { CacheLog } from './cache-store.js';

/**
 * KIOSK_REMEMBER=false (CONTRACT §3): MSAL is given no cache plugin, so its token cache lives in its own
 * memory and dies with the process; nothing token-bearing is ever written. What an earlier run with
 * the cache on disk left behind is removed at start: the cache itself, its temporary files and the
 * copies moved aside as unusable (every `<KIOSK_CACHE_PATH>` and `<KIOSK_CACHE_PATH>.*`, encrypted
 * or not). Never throws; a file that cannot be removed is logged with the fix.
 */
export async function removeSavedCache(path: string, log: CacheLog): Promise<void> {
  const dir = dirname(path);
  const base = basename(path);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if (!isENOENT(e)) log.warn({ path, code: errnoCode(e) }, 'KIOSK_REMEMBER=false: cannot look for a token cache left on disk');
    return;
  }
  const left = names.filter((n) => n === base || n.startsWith(`${base}.`));
  for (const name of left) {
    try {
      await rm(join(dir, name), { force: true });
      log.info({ path: join(dir, name) }, 'KIOSK_REMEMBER=false: removed a token cache an earlier run left on disk');
    } catch (e) {
      log.error(
        { path: join(dir, name), code: errnoCode(e), fix: "give the agent's user write access to the directory of KIOSK_CACHE_PATH, or remove the file" },
        'KIOSK_REMEMBER=false: a token cache an earlier run left on disk could not be removed',
      );
    }
  }
}
