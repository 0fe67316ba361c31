import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { systemClock } from '../../src/clock.js';
import type { Clock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import type { DisplayDeps } from '../../src/displays/display.js';
import { toView } from '../../src/displays/view.js';
import type { View } from '../../src/displays/view.js';
import { createLogger } from '../../src/log.js';
import type { Logger } from '../../src/log.js';
import type { Claims, Snapshot } from '../../src/state.js';

export const NOW = Date.parse('2025-01-01T14:30:00Z');
export const URI = 'https://microsoft.com/devicelogin';
export const COMPLETE = 'https://127.0.0.1:8443/common/oauth2/v2.0/deviceauth?user_code=WXYZ-2345';
export const CODE = 'ABCD-EFGH';

export const awaiting = (extra: Partial<Snapshot> = {}): Snapshot =>
  ({ state: 'awaiting_sign_in', since: NOW, userCode: CODE, verificationUri: URI, expiresAt: NOW + 300_000, ...extra });
export const signedIn: Snapshot = {
  state: 'signed_in', since: NOW, account: { username: 'ada@example.com', name: 'Ada' }, nextRefreshAt: NOW + 900_000,
};
export const at = (snapshot: Snapshot, now = NOW, claims?: Claims): View => toView(snapshot, claims, now, 'lobby-1');

/** Display deps from environment variables on top of a valid minimal configuration. */
export function fbDeps(env: Record<string, string>, more: { clock?: Clock; log?: Logger } = {}): DisplayDeps {
  const config = loadConfig({
    env: { KIOSK_CLIENT_ID: 'kiosk-test', KIOSK_AUTHORITY: 'https://login.example.test/tenant/', KIOSK_DEVICE_ID: 'lobby-1', ...env },
  }).config;
  return { config, log: more.log ?? createLogger('silent'), clock: more.clock ?? systemClock };
}

/** A fresh temporary directory, removed after the test. */
export async function tempDir(t: TestContext, prefix = 'kiosk-fb-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
