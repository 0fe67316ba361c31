import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatClock, formatCountdown, toView } from '../src/displays/view.js';
import type { Snapshot } from '../src/state.js';
import { berlinClock, berlinOffsetHours } from './helpers/time-zone.js';

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

test('UTC times, formatted without Intl, read exactly as Intl writes them', () => {
  const intl = (withSeconds: boolean) =>
    new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', hourCycle: 'h23', hour: '2-digit', minute: '2-digit', ...(withSeconds ? { second: '2-digit' } : {}), timeZoneName: 'short' });
  const expected = (at: number, withSeconds: boolean): string => {
    const parts = intl(withSeconds).formatToParts(at);
    return `${parts.filter((p) => ['hour', 'minute', 'second'].includes(p.type)).map((p) => p.value).join(':')} ${parts.find((p) => p.type === 'timeZoneName')?.value}`;
  };
  for (const at of [0, NOW, Date.parse('2025-12-31T23:59:59.999Z'), Date.parse('2024-02-29T00:00:00Z'), NOW + 86_399_000]) {
    assert.equal(formatClock(at), expected(at, false));
    assert.equal(formatClock(at, true), expected(at, true));
  }
});

test('signed_in: who is signed in, from the verified claims alone, labelled, in KIOSK_CLAIMS order, the name aside', () => {
  const claims = { name: 'Ada Lovelace', preferred_username: 'ada@example.com', email: 'ada@mail.example', oid: '0000-1', tid: 'tenant-1', dept: 'Engines' };
  const v = view({ state: 'signed_in', account: { username: 'cached@example.com', name: 'A. L.' } }, claims);
  assert.deepEqual(v.identity, [
    { label: 'Username', value: 'ada@example.com' },
    { label: 'Email', value: 'ada@mail.example' },
    { label: 'Object ID', value: '0000-1' },
    { label: 'Tenant ID', value: 'tenant-1' },
    { label: 'dept', value: 'Engines' },
  ]);
  // The cached account is not a verified claim: no claims, no panel.
  assert.deepEqual(view({ state: 'signed_in', account: { username: 'cached@example.com' } }).identity, []);
  for (const state of ['restoring', 'awaiting_sign_in', 'offline', 'error', 'starting', 'stopped'] as const)
    assert.equal(view({ state, account: { username: 'x@example.com' } }, claims).identity, undefined, state);
});

test('signed_in: claim values become one safe line: no control characters, lists joined, objects left out, long values cut', () => {
  const v = view({ state: 'signed_in' }, {
    preferred_username: 'ada@example.com\x1b[2J\x1b]0;owned\x07', roles: ['Kiosk.Operator', 'Reader', 3], address: { street: 'x' },
    email: '   ', upn: 'u'.repeat(500), email_verified: true,
  });
  assert.deepEqual(v.identity?.map((r) => r.label), ['Username', 'Roles', 'UPN', 'email_verified']);
  const [user, roles, upn, verified] = v.identity!;
  assert.equal(user?.value, 'ada@example.com [2J ]0;owned');
  assert.doesNotMatch(user!.value, /\p{Cc}/u);
  assert.equal(roles?.value, 'Kiosk.Operator, Reader, 3');
  assert.equal([...upn!.value].length, 200);
  assert.ok(upn!.value.endsWith('…'));
  assert.equal(verified?.value, 'true');
});

test('awaiting_sign_in without a code is "Not signed in", the screen a Sign in button belongs on', () => {
  assert.equal(view({ state: 'awaiting_sign_in', detail: 'Not signed in; a code is shown when sign-in is requested' }).notSignedIn, true);
  assert.equal(view({ state: 'awaiting_sign_in', userCode: 'C', verificationUri: URI, expiresAt: NOW + 60_000 }).notSignedIn, undefined);
  assert.equal(view({ state: 'signed_in' }).notSignedIn, undefined);
});

test('times on screen in the TZ zone with its short name; UTC by default', () => {
  const summer = Date.parse('2025-07-01T14:30:05Z');
  assert.equal(berlinOffsetHours(NOW), 1);
  assert.equal(berlinOffsetHours(summer), 2);
  assert.equal(berlinClock(NOW), '15:30 CET');
  assert.equal(formatClock(NOW, false, 'Europe/Berlin'), '15:30 CET');
  assert.equal(formatClock(summer, true, 'Europe/Berlin'), '16:30:05 CEST');
  assert.equal(formatClock(Date.parse('2025-03-30T00:59:00Z'), false, 'Europe/Berlin'), '01:59 CET', 'the minute before the change');
  assert.equal(formatClock(Date.parse('2025-03-30T01:00:00Z'), false, 'Europe/Berlin'), '03:00 CEST', 'the minute of the change');
  assert.equal(formatClock(NOW, false, 'Asia/Kolkata'), '20:00 GMT+5:30');
  const at = (timeZone?: string) =>
    toView({ state: 'signed_in', since: NOW, nextRefreshAt: NOW + 15 * 60_000 }, undefined, NOW, DEVICE, timeZone).status;
  assert.equal(at(), 'Next refresh 14:45 UTC');
  assert.equal(at('Europe/Berlin'), 'Next refresh 15:45 CET');
  const code = toView({ state: 'awaiting_sign_in', since: NOW, userCode: 'C', verificationUri: URI, expiresAt: NOW + 300_000 }, undefined, NOW, DEVICE, 'America/New_York');
  assert.match(code.steadyStatus, /expires at 09:35 GMT-5$/);
  assert.equal(code.status.endsWith('expires in 5:00'), true, 'countdowns do not depend on the zone');
});
