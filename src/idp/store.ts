import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { readTextIfExists, writeFileAtomic } from './files.js';
import type { DeviceCodeRecord, RefreshTokenRecord, User } from './types.js';
import { defaultUsers, findUser } from './users.js';

interface StateFile {
  version: 1;
  tenantId: string;
  users: User[];
  deviceCodes: DeviceCodeRecord[];
  refreshTokens: RefreshTokenRecord[];
}

const DAY = 24 * 60 * 60 * 1000;
/** Changes within this window share one write: the whole state is rewritten each time. */
const SAVE_DELAY_MS = 200;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isGuid = (s: string): boolean => GUID.test(s);

/** SHA-256 (hex) of a secret: only hashes of device codes and refresh tokens are kept on disk. */
export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/** A stable short id for log lines and the control API, e.g. `dc-1a2b3c4d`. */
export const shortId = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

/**
 * Persisted state (`state.json` in the data dir, mode 0600): tenant id, users, device codes and refresh
 * tokens, so that a restarted provider on the same dir honours what it issued before. Callers mutate the
 * records they got and then call `save()`. Issued secrets (`issued()`) are kept in memory only.
 */
export class Store {
  private readonly issuedValues: string[] = [];
  private pending?: NodeJS.Timeout;

  private constructor(
    private readonly file: string,
    private readonly state: StateFile,
  ) {}

  static open(dir: string, tenantId?: string): Store {
    if (tenantId !== undefined && !isGuid(tenantId)) throw new Error(`tenant id "${tenantId}" is not a GUID`);
    const file = join(dir, 'state.json');
    const text = readTextIfExists(file);
    let loaded: StateFile | undefined;
    try {
      loaded = text === undefined ? undefined : (JSON.parse(text) as StateFile);
    } catch (e) {
      throw new Error(`${file} is not valid JSON (${e instanceof Error ? e.message : String(e)}); fix or delete it`);
    }
    const state: StateFile = loaded ?? { version: 1, tenantId: randomUUID(), users: defaultUsers(), deviceCodes: [], refreshTokens: [] };
    if (tenantId !== undefined) state.tenantId = tenantId.toLowerCase();
    const store = new Store(file, state);
    store.flush();
    return store;
  }

  get tenantId(): string {
    return this.state.tenantId;
  }

  get users(): readonly User[] {
    return this.state.users;
  }

  user(query: string): User | undefined {
    return findUser(this.state.users, query);
  }

  addDeviceCode(record: DeviceCodeRecord): void {
    this.state.deviceCodes.push(record);
    this.save();
  }

  deviceCodeBySecret(deviceCode: string): DeviceCodeRecord | undefined {
    const hash = hashSecret(deviceCode);
    return this.state.deviceCodes.find((r) => r.hash === hash);
  }

  deviceCodeByUserCode(userCode: string): DeviceCodeRecord | undefined {
    return this.state.deviceCodes.find((r) => r.userCode === userCode);
  }

  get deviceCodes(): readonly DeviceCodeRecord[] {
    return this.state.deviceCodes;
  }

  addRefreshToken(record: RefreshTokenRecord): void {
    this.state.refreshTokens.push(record);
    this.save();
  }

  refreshTokenBySecret(token: string): RefreshTokenRecord | undefined {
    const hash = hashSecret(token);
    return this.state.refreshTokens.find((r) => r.hash === hash);
  }

  /** Revokes every refresh token issued so far; returns how many were still live. */
  revokeAllRefreshTokens(now: number): number {
    let count = 0;
    for (const r of this.state.refreshTokens) {
      if (r.revokedAt === undefined) {
        r.revokedAt = now;
        count++;
      }
    }
    this.save();
    return count;
  }

  recordIssued(...values: string[]): void {
    this.issuedValues.push(...values);
  }

  issued(): string[] {
    return [...this.issuedValues];
  }

  /**
   * Drops device codes a day past expiry and expired refresh tokens, and writes the state soon: a
   * write per request made a busy provider (a fleet booting at once) spend its time serialising.
   */
  save(now = Date.now()): void {
    this.prune(now);
    this.pending ??= setTimeout(() => {
      try {
        this.flush();
      } catch (e) {
        console.error(`idp: cannot save ${this.file}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }, SAVE_DELAY_MS).unref();
  }

  /** Writes the state atomically now (`close()` calls it). */
  flush(now = Date.now()): void {
    clearTimeout(this.pending);
    this.pending = undefined;
    this.prune(now);
    writeFileAtomic(this.file, `${JSON.stringify(this.state, null, 2)}\n`);
  }

  private prune(now: number): void {
    this.state.deviceCodes = this.state.deviceCodes.filter((r) => r.expiresAt + DAY > now);
    this.state.refreshTokens = this.state.refreshTokens.filter((r) => r.expiresAt > now);
  }
}
