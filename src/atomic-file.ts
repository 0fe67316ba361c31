import { randomBytes } from 'node:crypto';
// The default export is the module object itself: tests can spy on its methods.
import fsp from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isErrno, isENOENT } from './errors.js';

/** `<name>.<pid>.<random>.tmp`: unique per writer, and recognisable by `removeStaleTemps`. */
const tempName = (name: string): string => `${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;

const isTempOf = (name: string, entry: string): boolean =>
  entry.length > name.length + 5 && entry.startsWith(`${name}.`) && entry.endsWith('.tmp');

/**
 * Paths whose leftovers this process has cleared. A writer killed mid-write (SIGKILL, power cut) leaves
 * its temp behind, and the next process picks a new name, so without a sweep they pile up one per crash.
 * Keyed by path, and only ever grows by the few files a process writes: harmless to share.
 */
const swept = new Map<string, Promise<void>>();

/** Before this process's first temp for `path` exists: no temp of a write still in progress can be taken. */
function sweepOnce(path: string): Promise<void> {
  let sweep = swept.get(path);
  if (sweep === undefined) {
    sweep = removeStaleTemps(path).then(
      () => undefined,
      () => undefined, // the write that follows reports what is wrong with the directory
    );
    swept.set(path, sweep);
  }
  return sweep;
}

/**
 * Replaces `path` with `data` so that after a crash or power cut the file holds either the old or the
 * new content, never a mix: write a temp file in the same directory, fsync it, rename it over the
 * target, fsync the directory (which makes the rename itself durable).
 *
 * The file gets exactly `mode`, whatever the umask. The directory must exist. On failure the temp
 * file is removed and the error rethrown (errno codes such as ENOSPC, EROFS, EACCES, ENOTDIR). The first
 * write to a path in a process first removes the temps that killed writers left beside it.
 */
export async function writeAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  await sweepOnce(path);
  const dir = dirname(path);
  const temp = join(dir, tempName(basename(path)));
  try {
    const handle = await fsp.open(temp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temp, path);
  } catch (e) {
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw e;
  }
  await fsyncDirectory(dir);
}

/**
 * Makes directory entries (a rename, a new or removed file) durable. Filesystems that cannot fsync a
 * directory (EINVAL, ENOTSUP) are accepted: there is nothing more to do on them.
 */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } catch (e) {
    if (!isErrno(e, 'EINVAL') && !isErrno(e, 'ENOTSUP')) throw e;
  } finally {
    await handle.close();
  }
}

/**
 * Removes `<name>.*.tmp` files that a writer killed mid-write left beside `path`. Call it before the
 * first write of the process (a temp of a write still in progress would be removed too). Returns the
 * names removed; a missing directory is not an error.
 */
export async function removeStaleTemps(path: string): Promise<string[]> {
  const dir = dirname(path);
  const name = basename(path);
  let entries: string[];
  try {
    entries = await fsp.readdir(dir);
  } catch (e) {
    if (isENOENT(e) || isErrno(e, 'ENOTDIR')) return [];
    throw e;
  }
  const removed: string[] = [];
  for (const entry of entries.filter((e) => isTempOf(name, e))) {
    await fsp.rm(join(dir, entry), { force: true, recursive: true });
    removed.push(entry);
  }
  return removed;
}
