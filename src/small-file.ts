import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';

/** `--config` files and `NAME_FILE` secrets: a setting is a line, a JSON file of settings a few KiB. */
export const SETTING_FILE_LIMIT = 64 * 1024;
/** PEM files (`KIOSK_MQTT_CA`, `_CERT`, `_KEY`): room for a whole CA bundle. */
export const PEM_FILE_LIMIT = 1024 * 1024;

const size = (bytes: number): string => (bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`);

/**
 * Reads a regular file of at most `limit` bytes, whole. Anything else is refused with a short reason
 * (`not a regular file`, `larger than 64 KiB`) and never read: `/dev/zero` would be read until the
 * process runs out of memory, a FIFO would block start-up, a directory has no content. The type is
 * checked before opening (opening some devices has effects) and again on the open descriptor.
 */
export function readSmallFile(path: string, limit: number): Buffer {
  try {
    return read(path, limit);
  } catch (e) {
    throw withoutPath(e);
  }
}

/** An fs error's message without the path it quotes: the caller shows the path, masked (it may be a URL with a password). */
function withoutPath(e: unknown): unknown {
  const err = e as NodeJS.ErrnoException;
  if (!(e instanceof Error) || err.path === undefined) return e;
  return Object.assign(new Error(e.message.split(', ')[0]), { code: err.code });
}

function read(path: string, limit: number): Buffer {
  if (!statSync(path).isFile()) throw new Error('not a regular file');
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new Error('not a regular file');
    if (stat.size > limit) throw new Error(`larger than ${size(limit)}`);
    // One byte more than allowed, so a file that grew since fstat is still caught.
    const buffer = Buffer.alloc(limit + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > limit) throw new Error(`larger than ${size(limit)}`);
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

export const readSmallText = (path: string, limit = SETTING_FILE_LIMIT): string => readSmallFile(path, limit).toString('utf8');
