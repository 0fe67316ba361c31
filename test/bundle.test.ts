import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import type { Broker } from './helpers/broker.js';
import { approveNext, command, startKiosk } from './helpers/kiosk.js';

/**
 * The build changes what runs: node-cron and MQTT.js's transports evaluated on first use, readable-stream answered by
 * Node's own streams, builtins by `require`. The bundle an image ships is run here against a real
 * Mosquitto, on each transport a kiosk is given, through a whole sign-in and an operator command.
 */
const BUNDLE = new URL('../dist/main.js', import.meta.url).pathname;
const ROOT = 'kiosk/test-kiosk';
const state = (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>;

const transports: [string, (b: Broker) => string][] = [
  ['mqtt://', (b) => b.url],
  ['ws://', (b) => b.wsUrl ?? ''],
];

for (const [name, mqttUrl] of transports) {
  test(`the shipped bundle over ${name}: the code on MQTT is the screen's, sign-in publishes claims, a command is answered`, async (t) => {
    assert.ok(existsSync(BUNDLE), `${BUNDLE} is missing: run \`npm run build\` first`);
    // A refresh cron of its own: the settings check loads node-cron from its file before the first frame.
    const k = await startKiosk(t, { bundle: true, broker: { websockets: true }, mqttUrl, env: { KIOSK_REFRESH_CRON: '0 */6 * * *' } });
    const awaiting = await k.mqtt.waitFor(`${ROOT}/state`, (m) => state(m.text).state === 'awaiting_sign_in', 20_000);
    const code = String(state(awaiting.text).user_code);
    const connected = await k.agent.waitForLog((l) => l.msg === 'MQTT connected', 5_000);
    assert.equal(connected.url, mqttUrl(k.broker), `connected over ${name}`);
    assert.match(k.agent.stdout(), new RegExp(`Code: ${code}`), 'the screen shows the code MQTT carries');
    assert.equal(await approveNext(k.idp, 'bob'), code);
    await k.mqtt.waitFor(`${ROOT}/state`, (m) => state(m.text).state === 'signed_in', 20_000);
    assert.equal(state((await k.mqtt.waitFor(`${ROOT}/claims`, (m) => m.text !== '', 5_000)).text).name, 'Bob Example');
    assert.equal((await command(k, 'refresh')).status, 'ok');
    assert.equal(await k.agent.stop('SIGTERM'), 0);
    assert.equal(k.mqtt.last(`${ROOT}/availability`)?.text, 'offline');
  });
}

test('node-cron, and the code MQTT.js requires only for other transports and browsers, are in files beside the chunks, each with the functions its chunk calls', () => {
  const chunks = new URL('../dist/chunks/', import.meta.url).pathname;
  const calls = readdirSync(chunks)
    .filter((f) => f.endsWith('.js'))
    .flatMap((f) => [...readFileSync(chunks + f, 'utf8').matchAll(/\("\.\/([\w-]+\.cjs)"\)\.(\w+)\(/g)].map((m) => [m[1]!, m[2]!] as const));
  assert.deepEqual([...new Set(calls.map(([file]) => file))].sort(), ['mqtt-socks.cjs', 'mqtt-ws.cjs', 'node-cron.cjs', 'worker-timers.cjs']);
  const load = createRequire(chunks);
  for (const [file, name] of calls) assert.equal(typeof (load(`./${file}`) as Record<string, unknown>)[name], 'function', `${file} exports ${name}`);
});
