import assert from 'node:assert/strict';
import { test } from 'node:test';
import { claimsPayload, eventPayload, responsePayload, statePayload } from '../src/mqtt/payloads.js';
import { fleetTopics, isPublishableTopic, kioskTopics } from '../src/mqtt/topics.js';
import { TokenBucket } from '../src/mqtt/token-bucket.js';
import { duration, safe } from '../src/mqtt/watch-view.js';
import { watchSettings } from '../src/mqtt/watch.js';
import { ConfigError } from '../src/errors.js';

const T = Date.parse('2025-01-01T14:30:00.250Z');
const agent = { version: '1.2.3', deviceId: 'lobby-1' };

test('state payload: CONTRACT §2 keys only, snake_case, ISO-8601 UTC times', () => {
  const full = statePayload({
    state: 'signed_in', since: T, detail: 'd', userCode: 'C', verificationUri: 'https://v', verificationUriComplete: 'https://v?otc=C',
    expiresAt: T + 1, account: { username: 'u', name: 'N' }, tokenExpiresAt: T + 2, nextRefreshAt: T + 3, retryAt: T + 4,
    error: { code: 'e', message: 'm' },
  }, agent);
  assert.deepEqual(full, {
    state: 'signed_in', since: '2025-01-01T14:30:00.250Z', detail: 'd', user_code: 'C', verification_uri: 'https://v',
    expires_at: '2025-01-01T14:30:00.251Z', account: { username: 'u', name: 'N' }, token_expires_at: '2025-01-01T14:30:00.252Z',
    next_refresh_at: '2025-01-01T14:30:00.253Z', retry_at: '2025-01-01T14:30:00.254Z', error: { code: 'e', message: 'm' },
    agent: { version: '1.2.3', device_id: 'lobby-1' },
  });
  assert.deepEqual(statePayload({ state: 'starting', since: T, account: { username: 'u' } }, agent), {
    state: 'starting', since: '2025-01-01T14:30:00.250Z', account: { username: 'u' }, agent: { version: '1.2.3', device_id: 'lobby-1' },
  });
  // How the kiosk names itself, so an operator knows which device a person is approving.
  assert.deepEqual(statePayload({ state: 'starting', since: T }, { ...agent, name: 'Lobby screen', location: 'Reception' }).agent, {
    version: '1.2.3', device_id: 'lobby-1', name: 'Lobby screen', location: 'Reception',
  });
});

test('events carry only allow-listed fields; claims clear with an empty payload; responses', () => {
  assert.deepEqual(
    eventPayload({ event: 'code_issued', at: T, user_code: 'C', expires_at: T + 1, device_code: 'secret', accessToken: 'x', nested: { a: 1 } }),
    { event: 'code_issued', at: '2025-01-01T14:30:00.250Z', user_code: 'C', expires_at: '2025-01-01T14:30:00.251Z' },
  );
  assert.equal(claimsPayload(undefined), '');
  assert.equal(claimsPayload({}), '');
  assert.deepEqual(JSON.parse(claimsPayload({ name: 'N', oid: 'o' })), { name: 'N', oid: 'o' });
  assert.deepEqual(responsePayload({ status: 'ok' }, undefined), { status: 'ok' });
  assert.deepEqual(responsePayload({ status: 'error', error: { code: 'x', message: 'y' } }, 7), { status: 'error', transaction: 7, error: { code: 'x', message: 'y' } });
});

test('topics', () => {
  const k = kioskTopics('site/kiosk', 'lobby-1');
  assert.deepEqual([k.availability, k.state, k.claims, k.events, k.requests, k.request('refresh'), k.response('status')], [
    'site/kiosk/lobby-1/availability', 'site/kiosk/lobby-1/state', 'site/kiosk/lobby-1/claims', 'site/kiosk/lobby-1/events',
    'site/kiosk/lobby-1/request/+', 'site/kiosk/lobby-1/request/refresh', 'site/kiosk/lobby-1/response/status',
  ]);
  assert.equal(k.commandOf('site/kiosk/lobby-1/request/sign_out'), 'sign_out');
  assert.equal(k.commandOf('site/kiosk/lobby-1/request/a/b'), undefined);
  assert.equal(k.commandOf('site/kiosk/lobby-2/request/refresh'), undefined);
  const f = fleetTopics('kiosk');
  assert.deepEqual([f.state, f.availability], ['kiosk/+/state', 'kiosk/+/availability']);
  assert.deepEqual(f.parse('kiosk/a/state'), { device: 'a', kind: 'state' });
  assert.equal(f.parse('kiosk/a/claims'), undefined);
  assert.equal(f.parse('other/a/state'), undefined);
  assert.deepEqual(['a/b', 'a/+', 'a/#', '', 'a\0'].map(isPublishableTopic), [true, false, false, false, false]);
});

test('token bucket: a burst, then the refill rate', () => {
  let now = 0;
  const bucket = new TokenBucket(3, 2, () => now);
  assert.deepEqual([1, 2, 3, 4].map(() => bucket.take()), [true, true, true, false]);
  now += 499;
  assert.equal(bucket.take(), false);
  now += 2;
  assert.equal(bucket.take(), true);
  now += 60_000;
  assert.deepEqual([1, 2, 3, 4].map(() => bucket.take()), [true, true, true, false]);
});

test('watch helpers: durations, terminal-safe text, settings from flags and environment', () => {
  assert.deepEqual([0, 59_400, 61_000, 3_600_000, 90_061_000].map(duration), ['0:00', '0:59', '1:01', '1h00m', '1d1h']);
  assert.equal(safe('a\u001b[31mb\u0007'), 'a?[31mb?');
  assert.equal(safe(undefined), '-');
  assert.equal(safe('x'.repeat(40)).length, 32);
  assert.deepEqual(watchSettings({ KIOSK_MQTT_URL: 'mqtts://b:8883', KIOSK_MQTT_PASSWORD_FILE: '/p' }, { prefix: 'site' }, () => 'pw\n'), {
    enabled: true, url: 'mqtts://b:8883', prefix: 'site', username: undefined, password: 'pw', ca: undefined, cert: undefined, key: undefined,
  });
  assert.throws(() => watchSettings({}, { url: 'http://x', prefix: 'a/#' }), (e: unknown) => e instanceof ConfigError && e.problems.length === 2);
});
