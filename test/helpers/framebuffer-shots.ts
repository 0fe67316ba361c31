/**
 * Screenshots of the framebuffer display for the README, drawn by the real renderer into plain
 * files and converted to PNG: `npx tsx test/helpers/framebuffer-shots.ts [out-dir]` (docs/images).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { systemClock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { framebufferDisplay } from '../../src/displays/framebuffer.js';
import { toView } from '../../src/displays/view.js';
import { createLogger } from '../../src/log.js';
import type { Claims, Snapshot } from '../../src/state.js';
import { framebufferToPng } from './framebuffer-png.js';

const NOW = Date.parse('2025-01-01T14:30:00Z');

export interface Shot {
  name: string;
  geometry: `${number}x${number}x${16 | 24 | 32}`;
  snapshot: Snapshot;
  claims?: Claims;
}

const awaiting: Snapshot = {
  state: 'awaiting_sign_in', since: NOW, userCode: 'ABCD-EFGH', verificationUri: 'https://microsoft.com/devicelogin',
  expiresAt: NOW + 299_000,
};
const signedIn: Snapshot = {
  state: 'signed_in', since: NOW, account: { username: 'ada@example.com', name: 'Ada Lovelace' }, nextRefreshAt: NOW + 900_000,
};

/** Verified claims as the default KIOSK_CLAIMS lets them through: who is signed in. */
const claims: Claims = {
  name: 'Ada Lovelace', preferred_username: 'ada@contoso.example', email: 'ada.lovelace@contoso.example',
  oid: '2f6e1a0c-8d1b-4a55-9c2e-7e3f5b1d9a40', tid: '72f988bf-86f1-41af-91ab-2d7cd011db47',
};

export const SHOTS: readonly Shot[] = [
  { name: 'framebuffer-awaiting-800x480x32', geometry: '800x480x32', snapshot: awaiting },
  { name: 'framebuffer-awaiting-480x320x16', geometry: '480x320x16', snapshot: awaiting },
  { name: 'framebuffer-signed-in-1920x1080x24', geometry: '1920x1080x24', snapshot: signedIn, claims },
  { name: 'framebuffer-awaiting-480x800x16', geometry: '480x800x16', snapshot: awaiting },
  { name: 'framebuffer-awaiting-720x1280x24', geometry: '720x1280x24', snapshot: awaiting },
  { name: 'framebuffer-awaiting-1080x1920x32', geometry: '1080x1920x32', snapshot: awaiting },
  { name: 'framebuffer-signed-in-480x800x16', geometry: '480x800x16', snapshot: signedIn, claims },
];

/** Renders one shot with the real display (a plain file in `work`) and writes `<out>/<name>.png`. */
export async function shoot(shot: Shot, work: string, out: string): Promise<string> {
  const raw = join(work, `${shot.name}.raw`);
  const env = {
    KIOSK_CLIENT_ID: 'kiosk-demo', KIOSK_AUTHORITY: 'https://login.example.test/tenant/', KIOSK_DEVICE_ID: 'lobby-1',
    KIOSK_DISPLAY: 'framebuffer', KIOSK_FRAMEBUFFER: raw, KIOSK_FRAMEBUFFER_GEOMETRY: shot.geometry,
  };
  const display = framebufferDisplay({ config: loadConfig({ env }).config, log: createLogger('silent'), clock: systemClock });
  await display.start();
  const png = join(out, `${shot.name}.png`);
  try {
    await display.render(toView(shot.snapshot, shot.claims, NOW, 'lobby-1'));
    const [width, height, bpp] = shot.geometry.split('x').map(Number) as [number, number, 16 | 24 | 32];
    await framebufferToPng(raw, { width, height, bpp }, png);
  } finally {
    await display.stop();
  }
  return png;
}

async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? 'docs/images');
  await mkdir(out, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'kiosk-fb-shots-'));
  try {
    for (const shot of SHOTS) console.log(await shoot(shot, work, out));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
