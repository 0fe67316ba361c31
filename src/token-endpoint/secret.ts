import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../atomic-file.js';

/** Where kiosk apps read the `X-IDENTITY-HEADER` value (CONTRACT §8): `<KIOSK_STATE_DIR>/identity-header`. */
export const IDENTITY_HEADER_FILE = 'identity-header';

/**
 * The header secret: KIOSK_TOKEN_SECRET, or 32 random bytes (hex) made at start. Compared in constant
 * time whatever the lengths (both sides are hashed first), so a caller learns nothing by timing.
 */
export class HeaderSecret {
  readonly value: string;
  private readonly digest: Buffer;

  constructor(configured?: string) {
    this.value = configured ?? randomBytes(32).toString('hex');
    this.digest = sha256(this.value);
  }

  matches(given: string | undefined): boolean {
    return timingSafeEqual(sha256(given ?? ''), this.digest) && given !== undefined;
  }

  /** Written atomically, mode 0640 (the agent's group may read it: that is how kiosk apps get it). */
  async write(stateDir: string): Promise<string> {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const path = join(stateDir, IDENTITY_HEADER_FILE);
    await writeAtomic(path, this.value, 0o640);
    return path;
  }
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();
