import assert from 'node:assert/strict';
import { setImmediate as turn } from 'node:timers/promises';
import { test } from 'node:test';
import { createLogger } from '../src/log.js';
import { CommandHandler, DEFAULT_COMMAND_LIMITS } from '../src/mqtt/commands.js';
import type { Operations } from '../src/mqtt/commands.js';
import { kioskTopics } from '../src/mqtt/topics.js';
import type { Snapshot } from '../src/state.js';
import { FakeClock } from './helpers/fake-clock.js';

/** The command timeout on the handler's clock: a refresh that never ends is answered `timeout` after 30 s, not before. */
test('a command still running after its timeout is answered timeout, on the injected clock', async () => {
  const clock = new FakeClock();
  const topics = kioskTopics('kiosk', 'k1');
  const sent: Array<{ topic: string; payload: string }> = [];
  let refreshes = 0;
  const operations: Operations = {
    refresh: () => {
      refreshes += 1;
      return new Promise<string>(() => undefined); // a provider that never answers
    },
    signOut: async () => undefined,
    restartSignIn: () => undefined,
  };
  const snapshot: Snapshot = Object.freeze({ state: 'signed_in', since: clock.now() }) as Snapshot;
  const handler = new CommandHandler({
    topics, snapshot: () => snapshot, operations, agent: { version: 't', deviceId: 'k1' }, log: createLogger('silent'),
    now: clock.now, clock, respond: (topic, payload) => void sent.push({ topic, payload }),
  });
  const answered = handler.handle('refresh', { payload: Buffer.from('{"transaction":"t1"}') });
  await turn();
  assert.equal(refreshes, 1, 'the refresh started');
  assert.equal(clock.timers.size, 1, 'its timeout is armed on the injected clock');
  clock.advance(DEFAULT_COMMAND_LIMITS.timeoutMs - 1);
  await turn();
  assert.equal(sent.length, 0, 'no answer before the timeout');
  clock.advance(1);
  await answered;
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.topic, topics.response('refresh'));
  const body = JSON.parse(sent[0]!.payload) as { status: string; transaction?: string; error?: { code: string; message: string } };
  assert.deepEqual([body.status, body.transaction, body.error?.code], ['error', 't1', 'timeout']);
  assert.match(body.error?.message ?? '', /no result within 30000 ms/);
});
