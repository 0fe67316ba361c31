import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { launchBrowser, textOf } from './helpers/browser.js';
import { readFrame } from './helpers/framebuffer-png.js';
import { findText } from './helpers/framebuffer-text.js';
import { approveNext, command, startKiosk } from './helpers/kiosk.js';
import { allDisplays, FB_GEOMETRY } from './faults/screens.js';
import { eventually } from './helpers/wait.js';

const [FB_WIDTH, FB_HEIGHT] = FB_GEOMETRY.split('x').map(Number) as [number, number];
const devicecodeRequests = async (k: Awaited<ReturnType<typeof startKiosk>>): Promise<number> =>
  (await k.idp.requests()).filter((r) => r.endpoint === 'devicecode').length;

test('the kiosk names itself and its location on every display and in MQTT while a code is shown', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-names-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [k, browser] = await Promise.all([
    startKiosk(t, { env: { ...allDisplays(dir), KIOSK_DEVICE_NAME: 'Lobby screen', KIOSK_LOCATION: 'Reception, floor 2' } }),
    launchBrowser(t),
  ]);
  const [pending] = await k.idp.waitForPending();
  assert.ok(pending);
  const listening = await k.agent.waitForLog((l) => l.msg === 'kiosk page listening', 20_000, 'the kiosk page');

  await eventually(() => k.agent.stdout().includes(`Code: ${pending.user_code}`), 10_000, 'the code on the terminal');
  assert.match(k.agent.stdout(), /kiosk-agent · Lobby screen · Reception, floor 2 · awaiting_sign_in/);

  const page = await browser.open(`http://127.0.0.1:${String(listening.port)}/`);
  await eventually(async () => (await textOf(page, 'code')) === pending.user_code, 10_000, 'the code on the kiosk page');
  assert.equal(await textOf(page, 'title'), 'kiosk-agent · Lobby screen · Reception, floor 2');

  const frame = await readFrame(join(dir, 'fb.raw'), { width: FB_WIDTH, height: FB_HEIGHT, bpp: 16 });
  assert.ok(findText(frame, 'Lobby screen', { ink: 'light', maxScale: 4 }), 'the name in the framebuffer title bar');
  assert.ok(findText(frame, 'Reception, floor 2', { ink: 'light', maxScale: 4 }), 'the location in the framebuffer title bar');

  const state = JSON.parse((await k.mqtt.waitFor('kiosk/test-kiosk/state', (m) => m.text.includes('awaiting_sign_in'))).text) as {
    agent: { device_id: string; name: string; location: string };
  };
  assert.equal(state.agent.device_id, 'test-kiosk');
  assert.equal(state.agent.name, 'Lobby screen');
  assert.equal(state.agent.location, 'Reception, floor 2');
});

test('KIOSK_SIGN_IN=on_request: no code until an operator asks; a sign-out waits to be asked again', async (t) => {
  const k = await startKiosk(t, { env: { KIOSK_SIGN_IN: 'on_request' } });
  const idle = await k.agent.waitForState('awaiting_sign_in');
  assert.match(String(idle.detail), /Not signed in/);
  await eventually(() => k.agent.stdout().includes('Not signed in'), 10_000, '"Not signed in" on the terminal');
  // The provider's discovery answered before the kiosk settled; a code would have been asked for at once.
  await k.mqtt.waitFor('kiosk/test-kiosk/state', (m) => m.text.includes('Not signed in'));
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  assert.equal(await devicecodeRequests(k), 0, 'no device-code request while nobody asked');
  assert.equal((await k.idp.pending()).length, 0);

  assert.equal((await command(k, 'restart_sign_in')).status, 'ok');
  await approveNext(k.idp);
  await k.agent.waitForState('signed_in');
  assert.equal(await devicecodeRequests(k), 1);

  assert.equal((await command(k, 'sign_out')).status, 'ok');
  await k.agent.waitForState('awaiting_sign_in', 15_000, 2);
  const signedOut = k.agent.logs().find((l) => l.event === 'signed_out');
  assert.equal(signedOut?.reason, 'operator');
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  assert.equal(await devicecodeRequests(k), 1, 'no new code after the sign-out until asked');
});

test('KIOSK_CODE_LIFETIME=60: a fresh code after 60 s, the old one never shown past its time', async (t) => {
  const k = await startKiosk(t, { env: { KIOSK_CODE_LIFETIME: '60' } });
  const [first] = await k.idp.waitForPending();
  assert.ok(first);
  const shown = await k.agent.waitForState('awaiting_sign_in');
  const state = JSON.parse((await k.mqtt.waitFor('kiosk/test-kiosk/state', (m) => m.text.includes(first.user_code))).text) as {
    since: string;
    expires_at: string;
  };
  const window = Date.parse(state.expires_at) - Date.parse(state.since);
  assert.ok(window <= 60_000 && window > 55_000, `the code is shown for 60 s, not the provider's 900 (${window} ms)`);
  const [second] = await k.idp.waitForPending((c) => c.user_code !== first.user_code, 90_000);
  assert.ok(second);
  await k.agent.waitForState('awaiting_sign_in', 20_000, 1);
  const expired = k.agent.logs().find((l) => l.event === 'code_expired');
  assert.ok(expired, 'the first code was retired as expired');
  // The screen moved to the new code no later than a poll after the 60 s: never a dead code for long.
  const next = await k.agent.waitForLog((l) => l.event === 'code_issued' && l.user_code === second.user_code, 10_000, 'the second code issued');
  const gap = Date.parse(String(next.time)) - Date.parse(String(shown.time));
  assert.ok(gap >= 59_000, `the first code stayed its 60 s (${gap} ms)`);
  // The provider still holds the first code (900 s); the kiosk no longer polls it, so only the new one signs in.
  await k.idp.approve(second.user_code);
  await k.agent.waitForState('signed_in');
});
