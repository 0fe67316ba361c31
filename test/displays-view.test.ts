import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatClock, formatCountdown, toView } from '../src/displays/view.js';
import type { Snapshot } from '../src/state.js';

const NOW = Date.parse('2025-01-01T14:30:00Z');
const DEVICE = 'lobby-1';
const URI = 'https://microsoft.com/devicelogin';
const view = (s: Omit<Snapshot, 'since'>, claims?: Record<string, unknown>, now = NOW) =>
  toView({ since: NOW - 1_000, ...s }, claims, now, DEVICE);

test('every view carries the product title with the device id', () => {
  assert.equal(view({ state: 'starting' }).title, 'kiosk-agent · lobby-1');
});

test('starting: "Starting", nothing to count down', () => {
  const v = view({ state: 'starting' });
  assert.equal(v.state, 'starting');
  assert.equal(v.headline, 'Starting');
  assert.equal(v.status, '');
  assert.equal(v.ticking, false);
  assert.equal(v.userCode, undefined);
  assert.equal(v.qrText, undefined);
});

test('restoring: names the cached account, by name then username', () => {
  assert.equal(view({ state: 'restoring', account: { username: 'ada@example.com', name: 'Ada' } }).headline, 'Signing in as Ada');
  assert.equal(view({ state: 'restoring', account: { username: 'ada@example.com' } }).headline, 'Signing in as ada@example.com');
  assert.equal(view({ state: 'restoring' }).headline, 'Signing in');
});

test('awaiting_sign_in: code, URL, QR of the plain URI, countdown in the status', () => {
  const v = view({ state: 'awaiting_sign_in', userCode: 'ABCD-EFGH', verificationUri: URI, expiresAt: NOW + 299_000 });
  assert.equal(v.headline, 'Sign in');
  assert.equal(v.userCode, 'ABCD-EFGH');
  assert.equal(v.verificationUri, URI);
  assert.equal(v.qrText, URI);
  assert.equal(v.secondsLeft, 299);
  assert.equal(v.ticking, true);
  assert.equal(v.status, `Open ${URI} on your phone and enter ABCD-EFGH · expires in 4:59`);
  assert.equal(v.steadyStatus, `Open ${URI} on your phone and enter ABCD-EFGH · expires at 14:34 UTC`);
});

test('awaiting_sign_in: the QR encodes verificationUriComplete when the provider gave one', () => {
  const complete = `${URI}?otc=ABCDEFGH`;
  const v = view({ state: 'awaiting_sign_in', userCode: 'ABCDEFGH', verificationUri: URI, verificationUriComplete: complete, expiresAt: NOW + 60_000 });
  assert.equal(v.qrText, complete);
  assert.equal(v.verificationUri, URI, 'people still type the short URI');
});

test('awaiting_sign_in: seconds left round up and never go negative; a dead code is not shown', () => {
  assert.equal(view({ state: 'awaiting_sign_in', userCode: 'A', verificationUri: URI, expiresAt: NOW + 1_200 }).secondsLeft, 2);
  const late = view({ state: 'awaiting_sign_in', userCode: 'ABCD', verificationUri: URI, expiresAt: NOW - 5_000 });
  assert.equal(late.secondsLeft, 0);
  assert.equal(late.userCode, undefined);
  assert.equal(late.qrText, undefined);
  assert.equal(late.ticking, false);
  assert.match(late.status, /expired/);
});

test('awaiting_sign_in: a detail (such as a declined sign-in) leads the status line', () => {
  const v = view({ state: 'awaiting_sign_in', detail: 'Sign-in was declined', userCode: 'C', verificationUri: URI, expiresAt: NOW + 10_000 });
  assert.match(v.status, /^Sign-in was declined · Open /);
});

test('awaiting_sign_in: stale claims never put a name on the sign-in screen', () => {
  const v = view({ state: 'awaiting_sign_in', userCode: 'C', verificationUri: URI }, { name: 'Ada' });
  assert.equal(v.accountName, undefined);
  assert.equal(v.secondsLeft, undefined);
  assert.equal(v.ticking, false);
});

test('signed_in: the name claim wins over the cached account; next refresh time in the status', () => {
  const snapshot = { state: 'signed_in', account: { username: 'ada@example.com', name: 'A. L.' }, nextRefreshAt: Date.parse('2025-01-01T14:45:00Z') } as const;
  const v = view(snapshot, { name: 'Ada Lovelace', oid: 'x' });
  assert.equal(v.headline, 'Signed in as Ada Lovelace');
  assert.equal(v.accountName, 'Ada Lovelace');
  assert.equal(v.status, 'Next refresh 14:45 UTC');
  assert.equal(v.ticking, false);
  assert.equal(view(snapshot).accountName, 'A. L.');
  assert.equal(view({ state: 'signed_in', account: { username: 'ada@example.com' } }, { name: '' }).accountName, 'ada@example.com');
  assert.equal(view({ state: 'signed_in' }).headline, 'Signed in');
});

test('offline: waiting for network with a live retry countdown; absolute time for printers', () => {
  const v = view({ state: 'offline', retryAt: NOW + 11_500 });
  assert.equal(v.headline, 'Waiting for network');
  assert.equal(v.status, 'Retrying in 12 s');
  assert.equal(v.steadyStatus, 'Retrying at 14:30:11 UTC');
  assert.equal(v.ticking, true);
  assert.equal(view({ state: 'offline', retryAt: NOW + 200_000 }).status, 'Retrying in 3:20');
  const due = view({ state: 'offline', retryAt: NOW - 1 });
  assert.equal(due.status, 'Retrying in 0 s');
  assert.equal(due.ticking, false);
  assert.equal(view({ state: 'offline' }).status, '');
});

test('error: the provider code as headline, its one-line fix as status', () => {
  const error = { code: 'AADSTS7000218', message: 'Allow public client flows in the app registration' };
  const v = view({ state: 'error', error, retryAt: NOW + 60_000 });
  assert.equal(v.headline, 'AADSTS7000218');
  assert.equal(v.status, 'Allow public client flows in the app registration · Retrying in 1:00');
  assert.equal(view({ state: 'error', detail: 'check the client id' }).status, 'check the client id');
  assert.equal(view({ state: 'error' }).headline, 'Error');
});

test('stopped: "Stopped"; a detail shows in every state', () => {
  assert.equal(view({ state: 'stopped' }).headline, 'Stopped');
  for (const state of ['starting', 'restoring', 'signed_in', 'offline', 'stopped'] as const)
    assert.equal(view({ state, detail: 'reading cache' }).status, 'reading cache', state);
});

test('toView is pure', () => {
  const s: Snapshot = Object.freeze({ state: 'awaiting_sign_in', since: NOW, userCode: 'X', verificationUri: URI, expiresAt: NOW + 5_000 });
  assert.deepEqual(toView(s, undefined, NOW, DEVICE), toView(s, undefined, NOW, DEVICE));
});

test('time formats', () => {
  assert.equal(formatCountdown(299), '4:59');
  assert.equal(formatCountdown(0), '0:00');
  assert.equal(formatCountdown(-3), '0:00');
  assert.equal(formatCountdown(3_600), '60:00');
  assert.equal(formatClock(NOW), '14:30 UTC');
  assert.equal(formatClock(NOW + 5_000, true), '14:30:05 UTC');
});
