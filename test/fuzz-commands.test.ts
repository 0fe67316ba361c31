import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import { connectAsync } from 'mqtt';
import type { MqttClient } from 'mqtt';
import { systemClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { CommandHandler } from '../src/mqtt/commands.js';
import type { Operations, RequestPacket } from '../src/mqtt/commands.js';
import { MqttPublisher } from '../src/mqtt/publisher.js';
import { COMMAND_NAMES, isPublishableTopic, kioskTopics } from '../src/mqtt/topics.js';
import { Machine, STATES } from '../src/state.js';
import type { Snapshot } from '../src/state.js';
import { startBroker } from './helpers/broker.js';
import { checkProperty, deepJson, hostileString, invalidUtf8, newTally, repeated, summaryLine } from './helpers/fuzz.js';

/**
 * MQTT commands under arbitrary input (CONTRACT §2): whatever arrives on `request/<command>` (any bytes,
 * any JSON, any size, any command name, any MQTT 5 properties) and whatever the agent's operations do
 * (fail, throw, hang), the CommandHandler answers exactly once on `response/<command>` (and once on an
 * MQTT 5 response topic under the kiosk's own `response/`, never on any other), with `status` ok or
 * error and an error code from the documented set, and never throws into the MQTT client. A request
 * whose response topic lies elsewhere is refused (`bad_response_topic`) and never reaches the agent.
 */

const tally = newTally();
const started = performance.now();

/** README "Commands", plus what the handler itself documents (`bad_request`, `timeout`, `failed`, `stopped`) and each refresh result. */
const DOCUMENTED = new Set([
  'bad_json', 'bad_request', 'unknown_command', 'too_large', 'wrong_state', 'not_signed_in', 'rate_limited', 'timeout', 'failed', 'stopped', 'bad_response_topic',
  'network', 'interaction_required', 'expired', 'fatal', 'cancelled', 'declined',
]);
/** What `Agent.operations.refresh()` resolves with: an attempt's kind, or `not_signed_in`. */
const REFRESH_RESULTS = ['ok', 'not_signed_in', 'network', 'interaction_required', 'expired', 'fatal', 'cancelled', 'declined'] as const;
const TIMEOUT_MS = 25;

const silentLog = createLogger('debug', { write: () => undefined });

// The handler's timeout timer is unref'd (in the agent the MQTT socket keeps the process up): keep
// this process up while an operation hangs, as the socket would.
const keepAlive = setInterval(() => undefined, 1_000);
after(() => clearInterval(keepAlive));

// ---------------------------------------------------------------------------------------------
// Inputs

const transactionArb = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.constantFrom(repeated('t', 256), repeated('t', 257), '', '\u0000', '\uD800'),
  fc.integer(),
  fc.double(),
  fc.constantFrom(null, true, [], {}, ['t'], { a: 1 }),
);
/** Request bodies as bytes: everything a client, a broken client or an attacker could send. */
const payloadArb: Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ transaction: transactionArb }, { requiredKeys: [] }).map((o) => Buffer.from(JSON.stringify(o))) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
  { weight: 1, arbitrary: fc.json().map((j) => Buffer.from(j)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 5_000 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: invalidUtf8().map((b) => Buffer.from(b)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '', ' ', '\n', '\uFEFF{}', '{}', '[]', 'null', '1', '"x"', 'true', '{"transaction":1e309}', '{"transaction":-0}', '{"__proto__":{"transaction":"p"}}',
      '{"transaction":"a","transaction":2}', '{"transaction":"\\ud800"}', '{', '{"transaction":', '\u0000', '{"transaction":"t1"}\u0000',
    ).map((s) => Buffer.from(s)),
  },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1, max: 3_000 }), fc.constantFrom<'array' | 'object'>('array', 'object')).map(([d, k]) => Buffer.from(deepJson(d, k))) },
  { weight: 1, arbitrary: fc.constantFrom(4_095, 4_096, 4_097, 65_536, 1_048_576).map((n) => Buffer.from(`{"transaction":"${repeated('x', Math.max(0, n - 19))}"}`)) },
);
const commandArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...COMMAND_NAMES) },
  { weight: 1, arbitrary: fc.constantFrom('REFRESH', ' status', 'status ', 'sign-out', 'status/x', '', '+', '#', '__proto__', 'constructor', 'toString', 'hasOwnProperty') },
  { weight: 2, arbitrary: hostileString() },
);
/** Response topics the kiosk `k1` answers on: anything under its own `response/`. */
const OWN_RESPONSE_TOPICS = ['kiosk/k1/response/status/ops-1', 'kiosk/k1/response/x', 'kiosk/k1/response/a/b/c', 'kiosk/k1/response/../request/sign_out', 'kiosk/k1/response/ '];
/** And ones it must refuse: its own other topics, the response root itself, look-alikes, other devices, brokers' own. */
const FOREIGN_RESPONSE_TOPICS = [
  'kiosk/k1/request/sign_out', 'kiosk/k1/request/restart_sign_in', 'kiosk/k1/state', 'kiosk/k1/claims', 'kiosk/k1/availability', 'kiosk/k1/events',
  'kiosk/k1/response', 'kiosk/k1/response/', 'kiosk/k1/responses/x', 'kiosk/k10/response/x', 'Kiosk/k1/response/x', 'kiosk/k1//response/x', '/kiosk/k1/response/x',
  'kiosk/other/state', 'kiosk/other/request/sign_out', 'kiosk/other/response/status', 'homeassistant/sensor/k1/sign_in_state/config', '$SYS/broker/x',
  'ops/replies/1', 'kiosk/k1/response/+', 'kiosk/k1/response/#', 'kiosk/k1/response/nul\0', `kiosk/k1/response/${repeated('t', 70_000)}`,
];
const propertiesArb = fc.option(
  fc.record(
    {
      responseTopic: fc.oneof(
        fc.constantFrom(...OWN_RESPONSE_TOPICS),
        fc.constantFrom(...FOREIGN_RESPONSE_TOPICS),
        fc.constantFrom('a', '', '+', 'a/#', 'nul\0l', repeated('t', 70_000)),
        fc.string({ maxLength: 30 }),
        fc.string({ maxLength: 12 }).map((tail) => `kiosk/k1/response/${tail}`),
      ),
      correlationData: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    },
    { requiredKeys: [] },
  ),
  { freq: 2 },
);

/** Times as the machine could hold them, and ones it should never hold. */
const timeArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 4_102_444_800_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -1, 8.64e15) },
);
const snapshotArb: Arbitrary<Snapshot> = fc.record(
  {
    state: fc.constantFrom(...STATES),
    since: timeArb,
    detail: hostileString(),
    userCode: fc.string({ maxLength: 12 }),
    verificationUri: fc.webUrl(),
    expiresAt: timeArb,
    account: fc.record({ username: hostileString(), name: fc.option(hostileString(), { nil: undefined }) }, { requiredKeys: ['username'] }),
    tokenExpiresAt: timeArb,
    nextRefreshAt: timeArb,
    retryAt: timeArb,
    error: fc.record({ code: fc.string({ maxLength: 20 }), message: hostileString() }),
  },
  { requiredKeys: ['state', 'since'] },
);

/** What an operation does when called: finish (after a while), fail, throw at once, or never finish. */
type Behaviour = { kind: 'resolve'; delayMs: number } | { kind: 'reject'; error: unknown } | { kind: 'throw'; error: unknown } | { kind: 'hang' };
const errorArb = fc.oneof(
  hostileString().map((m) => new Error(m)),
  fc.constantFrom(undefined, null, 'a string', 42, { message: 'not an Error' }, new TypeError('t'), Object.assign(new Error('coded'), { code: 'EFAKE' })),
);
const behaviourArb: Arbitrary<Behaviour> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(0, 0, 1, 5).map((delayMs): Behaviour => ({ kind: 'resolve', delayMs })) },
  { weight: 1, arbitrary: errorArb.map((error): Behaviour => ({ kind: 'reject', error })) },
  { weight: 1, arbitrary: errorArb.map((error): Behaviour => ({ kind: 'throw', error })) },
  { weight: 1, arbitrary: fc.constant<Behaviour>({ kind: 'hang' }) },
);
const opsArb = fc.record({ refresh: fc.tuple(behaviourArb, fc.constantFrom(...REFRESH_RESULTS)), signOut: behaviourArb, restart: behaviourArb });
type OpsPlan = { refresh: [Behaviour, string]; signOut: Behaviour; restart: Behaviour };

function act<T>(b: Behaviour, value: T): Promise<T> {
  switch (b.kind) {
    case 'resolve':
      return b.delayMs === 0 ? Promise.resolve(value) : sleep(b.delayMs).then(() => value);
    case 'reject':
      return Promise.reject(b.error);
    case 'throw':
      throw b.error;
    case 'hang':
      return new Promise<T>(() => undefined);
  }
}

/** The boundary the handler drives (`Agent.operations`), doing what the plan says. */
function operations(plan: OpsPlan, calls: string[]): Operations {
  return {
    refresh: () => {
      calls.push('refresh');
      return act(plan.refresh[0], plan.refresh[1]);
    },
    signOut: () => {
      calls.push('sign_out');
      return act(plan.signOut, undefined);
    },
    restartSignIn: () => {
      calls.push('restart_sign_in');
      if (plan.restart.kind === 'throw' || plan.restart.kind === 'reject') throw plan.restart.error;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Judging one answered request

interface Sent {
  readonly topic: string;
  readonly payload: string;
  readonly qos: 0 | 1;
  readonly correlationData?: Buffer;
}

type Json = Record<string, unknown>;

/** The response payload is CONTRACT §2's `{"status","transaction"?,"error"?,"data"?}`; returns it parsed. */
function assertResponse(text: string): Json {
  const body = JSON.parse(text) as Json;
  assert.ok(typeof body === 'object' && body !== null && !Array.isArray(body), 'the response is a JSON object');
  assert.ok(body.status === 'ok' || body.status === 'error', `status is ok or error: ${text.slice(0, 200)}`);
  for (const key of Object.keys(body)) assert.ok(['status', 'transaction', 'error', 'data'].includes(key), `no stray key ${key}`);
  if (body.transaction !== undefined)
    assert.ok((typeof body.transaction === 'string' && body.transaction.length <= 256) || (typeof body.transaction === 'number' && Number.isFinite(body.transaction)), 'transaction echoed only when valid');
  if (body.status === 'error') {
    const error = body.error as { code?: unknown; message?: unknown } | undefined;
    assert.ok(typeof error?.code === 'string' && DOCUMENTED.has(error.code), `documented error code: ${JSON.stringify(error?.code)}`);
    assert.ok(typeof error.message === 'string' && error.message.trim().length > 0, 'an error says what went wrong');
  } else {
    assert.equal(body.error, undefined);
  }
  return body;
}

/** The transaction the handler should echo: the body's, when it is a small JSON object with a valid one. */
function expectedTransaction(payload: Buffer): string | number | undefined {
  if (payload.length > 4_096) return undefined;
  try {
    const data = JSON.parse(payload.toString('utf8')) as unknown;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
    const t = (data as { transaction?: unknown }).transaction;
    // As it travels: JSON has no -0.
    if ((typeof t === 'string' && t.length <= 256) || (typeof t === 'number' && Number.isFinite(t))) return JSON.parse(JSON.stringify(t)) as string | number;
  } catch {
    // not JSON: no transaction
  }
  return undefined;
}

const topics = kioskTopics('kiosk', 'k1');

test('CommandHandler: any request bytes, command name, properties, state and operation outcome get exactly one answer', { timeout: 120_000 }, async () => {
  let now = 1_700_000_000_000;
  await checkProperty(
    'commands in process',
    fc.asyncProperty(
      commandArb,
      payloadArb,
      propertiesArb,
      snapshotArb,
      opsArb,
      fc.constantFrom(0, 0, 0, 100, 1_000, 60_000, -5_000),
      async (command, payload, properties, snapshot, plan, advance) => {
        tally.cases += 1;
        now += advance;
        const sent: Sent[] = [];
        const calls: string[] = [];
        const handler = new CommandHandler({
          topics,
          snapshot: () => snapshot,
          operations: operations(plan as OpsPlan, calls),
          agent: { version: 't', deviceId: 'k1' },
          log: silentLog,
          now: () => now,
          limits: { timeoutMs: TIMEOUT_MS },
          respond: (topic, text, qos, correlationData) => void sent.push({ topic, payload: text, qos, correlationData }),
        });
        const packet: RequestPacket = { payload, ...(properties === null ? {} : { properties }) };
        const begun = performance.now();
        await handler.handle(command, packet);
        assert.ok(performance.now() - begun < TIMEOUT_MS + 1_000, 'answered within the command timeout');

        const main = sent.filter((s) => s.topic === topics.response(command));
        const direct = properties?.responseTopic;
        // Judged by the rule itself, not by the handler's helper: publishable, and strictly under kiosk/k1/response/.
        const usable = direct !== undefined && isPublishableTopic(direct) && direct.startsWith('kiosk/k1/response/') && direct !== 'kiosk/k1/response/';
        assert.equal(main.length, 1, `one answer on response/<command>, got ${sent.length} messages`);
        assert.equal(sent.length, usable ? 2 : 1, 'and one on an MQTT 5 response topic under the own response/, nothing else');
        for (const s of sent) assert.ok(s.topic.startsWith('kiosk/k1/response/'), `never an answer outside the own response/: ${s.topic.slice(0, 80)}`);
        for (const s of sent) assert.equal(s.payload, main[0]!.payload, 'both answers are the same');
        if (usable) assert.deepEqual(sent.find((s) => s.topic === direct)?.correlationData, properties?.correlationData, 'correlation data rides along');

        const body = assertResponse(main[0]!.payload);
        const code = (body.error as { code?: string } | undefined)?.code;
        assert.equal(main[0]!.qos, code === 'rate_limited' ? 0 : 1, 'QoS 1, except the cheap rate_limited answer');
        if (body.status === 'error') tally.rejections += 1;
        const refusedEarlier = code === 'rate_limited' || code === 'too_large' || code === 'unknown_command' || code === 'bad_json' || code === 'bad_request';
        if (direct !== undefined && !usable && !refusedEarlier) assert.equal(code, 'bad_response_topic', 'a foreign response topic is refused');
        if (refusedEarlier || code === 'bad_response_topic') assert.deepEqual(calls, [], 'a refused request never reaches the agent');
        if (code !== 'rate_limited' && code !== 'too_large' && code !== 'unknown_command') assert.equal(body.transaction, expectedTransaction(payload));
        if (body.status === 'ok' && command === 'status') assert.equal((body.data as { state?: unknown }).state, snapshot.state);
      },
    ),
    { seed: 0x636d6473, numRuns: 3_000, tally },
  );
});

test('CommandHandler: concurrent requests are each answered once, whatever finishes first', { timeout: 60_000 }, async () => {
  await checkProperty(
    'commands concurrently',
    fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...COMMAND_NAMES, 'nope'), payloadArb, opsArb), { minLength: 2, maxLength: 12 }), snapshotArb, async (requests, snapshot) => {
      tally.cases += requests.length;
      const sent: Sent[] = [];
      const handler = new CommandHandler({
        topics,
        snapshot: () => snapshot,
        operations: operations(requests[0]![2] as OpsPlan, []),
        agent: { version: 't', deviceId: 'k1' },
        log: silentLog,
        now: () => 0,
        limits: { timeoutMs: TIMEOUT_MS, burst: 6 },
        respond: (topic, text, qos) => void sent.push({ topic, payload: text, qos }),
      });
      // Each request carries its index as the transaction when its body allows one, so answers can be matched.
      await Promise.all(requests.map(([command, payload], i) => handler.handle(command, { payload, properties: { responseTopic: `kiosk/k1/response/replies/${i}` } })));
      assert.equal(sent.length, requests.length * 2, 'each request: one answer on response/<command> and one on its response topic');
      for (const [i, [command]] of requests.entries()) {
        const mine = sent.filter((s) => s.topic === `kiosk/k1/response/replies/${i}`);
        assert.equal(mine.length, 1, `request ${i} answered once`);
        assert.equal(sent.filter((s) => s.topic === topics.response(command) && s.payload === mine[0]!.payload).length >= 1, true, 'the same answer on response/<command>');
        const body = assertResponse(mine[0]!.payload);
        if (body.status === 'error') tally.rejections += 1;
      }
      const limited = sent.filter((s) => s.topic.startsWith('kiosk/k1/response/replies/') && (JSON.parse(s.payload) as { error?: { code?: string } }).error?.code === 'rate_limited').length;
      assert.equal(limited, Math.max(0, requests.length - 6), 'beyond the burst, and only beyond it, requests are rate-limited');
    }),
    { seed: 0x636f6e63, numRuns: 300, tally },
  );
});

// ---------------------------------------------------------------------------------------------
// The wire: a real Mosquitto and a real MqttPublisher

/**
 * Bodies the agent's connection receives: the publisher announces an MQTT 5 maximum packet size of
 * 64 KiB, so the broker drops larger requests before they reach the agent (unanswered, by design).
 */
const wirePayloadArb = payloadArb.filter((p) => p.length <= 60 * 1024);

/** Topic levels a client can really publish under `request/`: no `/`, `+`, `#` or NUL, valid UTF-8. */
const wireCommandArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...COMMAND_NAMES) },
  // MQTT forbids NUL and brokers refuse control characters and non-characters in topic names.
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 }).filter((s) => !/[/+#\p{Cc}\uFDD0-\uFDEF\uFFFE\uFFFF]/u.test(s)) },
);

test('over a real broker: every request published to request/<command> gets exactly one response', { timeout: 120_000 }, async (t) => {
  const broker = await startBroker();
  t.after(() => broker.dispose());
  const config = loadConfig({ env: { KIOSK_CLIENT_ID: 'c', KIOSK_AUTHORITY: 'https://login.example.test/t/', KIOSK_DEVICE_ID: 'k1', KIOSK_MQTT_URL: broker.url } }).config;
  const machine = new Machine(systemClock);
  machine.go('awaiting_sign_in', { userCode: 'FUZZ' });
  machine.go('signed_in', { account: { username: 'ada@example.test', name: 'Ada' }, tokenExpiresAt: Date.now() + 3_600_000 });
  let plan: OpsPlan = { refresh: [{ kind: 'resolve', delayMs: 0 }, 'ok'], signOut: { kind: 'resolve', delayMs: 0 }, restart: { kind: 'resolve', delayMs: 0 } };
  const ops: Operations = {
    refresh: () => operations(plan, []).refresh(),
    signOut: () => operations(plan, []).signOut(),
    restartSignIn: () => operations(plan, []).restartSignIn(),
  };
  const publisher = new MqttPublisher({ config, machine, operations: ops, log: silentLog, version: 't', limits: { timeoutMs: 50, burst: 1_000, perSecond: 1_000 } });
  t.after(() => publisher.stop());
  // Everything, so that an answer on a foreign response topic would be seen wherever it went.
  const live = await broker.observe({ filter: ['#', '$SYS/broker/x'] });
  await publisher.start();
  await live.waitFor('kiosk/k1/availability', (m) => m.text === 'online');
  const clients: Record<4 | 5, MqttClient> = { 4: await connectAsync(broker.url, { protocolVersion: 4 }), 5: await connectAsync(broker.url, { protocolVersion: 5 }) };
  t.after(() => Promise.all([clients[4].endAsync(true), clients[5].endAsync(true)]));

  /** Foreign response topics a client can really send (a broker disconnects one that names a wildcard or NUL). */
  const sendableForeign = FOREIGN_RESPONSE_TOPICS.filter((topic) => isPublishableTopic(topic) && topic.length < 1_000);
  const foreignAsked: Array<[topic: string, answer: string]> = [];
  let n = 0;
  let expected = 0;
  await checkProperty(
    'commands over MQTT',
    fc.asyncProperty(
      wireCommandArb, wirePayloadArb, opsArb, fc.constantFrom<4 | 5>(4, 5), fc.constantFrom('none', 'own', 'foreign'), fc.constantFrom(...sendableForeign),
      async (command, payload, nextPlan, version, topicKind, foreign) => {
        tally.cases += 1;
        plan = nextPlan as OpsPlan;
        n += 1;
        const from = live.messages.length;
        const responseTopic = topicKind === 'own' ? `kiosk/k1/response/fuzz/${n}` : foreign;
        const correlationData = Buffer.from(`corr-${n}`);
        const properties = version === 5 && topicKind !== 'none' ? { responseTopic, correlationData } : undefined;
        await clients[version].publishAsync(`kiosk/k1/request/${command}`, payload, { qos: 1, ...(properties ? { properties } : {}) });
        const reply = await live.waitFor(`kiosk/k1/response/${command}`, () => true, 5_000, from);
        const body = assertResponse(reply.text);
        if (body.status === 'error') tally.rejections += 1;
        if (properties && topicKind === 'own') {
          const direct = await live.waitFor(responseTopic, () => true, 5_000, from);
          assert.equal(direct.text, reply.text);
          assert.deepEqual(direct.properties?.correlationData, correlationData);
        }
        if (properties && topicKind === 'foreign') {
          const code = (body.error as { code?: string } | undefined)?.code;
          assert.ok(['bad_response_topic', 'too_large', 'unknown_command', 'bad_json', 'bad_request'].includes(code ?? ''), `a foreign response topic is refused, got ${code}`);
          foreignAsked.push([responseTopic, reply.text]);
        }
        expected += properties && topicKind === 'own' ? 2 : 1;
      },
    ),
    { seed: 0x77697265, numRuns: 200, tally },
  );
  // No request was answered twice, nor anywhere but the own response/: a stray answer would have arrived by now.
  await sleep(300);
  const answers = live.messages.filter((m) => m.topic.startsWith('kiosk/k1/response/')).length;
  assert.equal(answers, expected, 'exactly one answer per request (and one per own response topic)');
  assert.ok(foreignAsked.length > 20, `foreign response topics were tried (${foreignAsked.length})`);
  for (const [topic, answer] of foreignAsked)
    assert.ok(!live.messages.some((m) => m.topic === topic && m.text === answer), `no answer published on the foreign topic ${topic}`);
  // The agent's side of the connection survived it all: a plain status request still works.
  const from = live.messages.length;
  await clients[5].publishAsync('kiosk/k1/request/status', '{"transaction":"after"}', { qos: 1 });
  const last = assertResponse((await live.waitFor('kiosk/k1/response/status', () => true, 5_000, from)).text);
  assert.equal(last.status, 'ok');
  assert.equal(last.transaction, 'after');
  assert.equal(publisher.mqttStatus(), 'connected');
});

test('summary', (t) => {
  const line = summaryLine('commands', tally, performance.now() - started);
  t.diagnostic(line);
  assert.equal(tally.crashes, 0);
});
