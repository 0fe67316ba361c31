import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../src/backoff.js';
import { createLogger } from '../src/log.js';
import { Scheduler } from '../src/schedule.js';
import { FakeClock } from './helpers/fake-clock.js';

test('backoff: a doubling step with jitter in its upper half, capped; Retry-After raises a delay; reset starts over', () => {
  const top = new Backoff({ initialMs: 1_000, maxMs: 8_000, random: () => 1 });
  assert.deepEqual([1, 2, 3, 4, 5].map(() => top.next()), [1_000, 2_000, 4_000, 8_000, 8_000]);
  const bottom = new Backoff({ initialMs: 1_000, maxMs: 8_000, random: () => 0 });
  assert.deepEqual([1, 2, 3].map(() => bottom.next()), [500, 1_000, 2_000], 'never less than half the step');
  bottom.reset();
  assert.equal(bottom.next(30_000), 30_000, "the provider's Retry-After wins over a shorter step");
  assert.equal(bottom.next(10 ** 9), 8_000 * 12, 'a Retry-After is capped at twelve times the longest step');
});

test('refresh ahead of expiry: 5 minutes before, or a fifth of a short token\'s life; re-planned on each sign-in, cleared by the lifecycle', () => {
  const clock = new FakeClock();
  const due: string[] = [];
  const scheduler = new Scheduler({ expression: '*/15 * * * *', timeZone: 'UTC', clock, log: createLogger('silent'), onDue: (reason) => due.push(reason) });
  // Not started: only the expiry timer (the cron's times come from the real clock, checked elsewhere).
  assert.equal(scheduler.plan(clock.now() + 3_600_000), clock.now() + 3_600_000 - 300_000);
  clock.advance(3_600_000 - 300_000 - 1);
  assert.deepEqual(due, []);
  clock.advance(1);
  assert.deepEqual(due, ['expiry']);

  assert.equal(scheduler.plan(clock.now() + 60_000), clock.now() + 48_000, 'a 60 s token refreshes at 48 s');
  scheduler.plan(clock.now() + 3_600_000); // a refresh came first: the old timer is gone
  clock.advance(60_000);
  assert.deepEqual(due, ['expiry'], 're-planning replaced the earlier timer');
  scheduler.clear();
  clock.advance(3_600_000);
  assert.deepEqual(due, ['expiry'], 'cleared: nothing is due');
  assert.equal(clock.timers.size, 0);
});
