import assert from 'node:assert/strict';
import { test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { MetricFamily } from 'parse-prometheus-text-format';
import { freePort } from './helpers/broker.js';
import { rawRequest } from './helpers/http.js';
import { approveNext, command, startKiosk } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

/** CONTRACT §4: `GET /metrics` with KIOSK_METRICS=true, on the kiosk page's server, in the Prometheus text format. */

interface Scrape {
  text: string;
  families: Map<string, MetricFamily>;
  value(name: string, labels?: Record<string, string>): number | undefined;
}

async function scrape(port: number): Promise<Scrape> {
  const reply = await rawRequest(port, '/metrics', { headers: { host: `127.0.0.1:${port}` } });
  assert.equal(reply.status, 200, reply.body);
  assert.equal(reply.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const families = new Map(parsePrometheusTextFormat(reply.body).map((f) => [f.name, f]));
  return {
    text: reply.body,
    families,
    value(name, labels = {}) {
      const sample = families.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
      return sample?.value === undefined ? undefined : Number(sample.value);
    },
  };
}

test('/metrics: state, token expiry, refreshes and failures by code, codes issued and MQTT, parsed as Prometheus text; Host-checked, GET only, nothing secret', async (t) => {
  const port = await freePort();
  const kiosk = await startKiosk(t, { env: { KIOSK_DISPLAY: 'web', KIOSK_WEB_PORT: String(port), KIOSK_METRICS: 'true' } });
  await kiosk.agent.waitForState('awaiting_sign_in');
  await eventually(async () => (await scrape(port)).value('kiosk_agent_mqtt_connected') === 1, 15_000, 'MQTT connected in the metrics');
  const waiting = await scrape(port);
  assert.equal(waiting.families.get('kiosk_agent_state')?.type, 'GAUGE');
  assert.equal(waiting.value('kiosk_agent_state', { state: 'awaiting_sign_in' }), 1);
  assert.equal(waiting.value('kiosk_agent_state', { state: 'signed_in' }), 0);
  assert.equal(waiting.families.get('kiosk_agent_state')?.metrics.length, 7, 'one sample per state');
  assert.equal(waiting.value('kiosk_agent_codes_issued_total'), 1);
  assert.equal(waiting.families.get('kiosk_agent_codes_issued_total')?.type, 'COUNTER');
  assert.equal(waiting.value('kiosk_agent_token_expiry_seconds'), undefined, 'no token yet');
  assert.equal(waiting.value('kiosk_agent_info', { device_id: 'test-kiosk' }), 1);

  await approveNext(kiosk.idp);
  await kiosk.agent.waitForState('signed_in');
  const signedIn = await scrape(port);
  assert.equal(signedIn.value('kiosk_agent_state', { state: 'signed_in' }), 1);
  const left = signedIn.value('kiosk_agent_token_expiry_seconds') ?? 0;
  assert.ok(left > 3000 && left <= 3600, `seconds to expiry: ${left}`);

  // A refresh that fails with a 503, then its retry succeeds: one failure by its code, one success.
  await kiosk.idp.faults({ fail_next: 1, fail_status: 503, fail_endpoints: ['token'] });
  assert.equal((await command(kiosk, 'refresh')).status, 'error');
  await eventually(async () => (await scrape(port)).value('kiosk_agent_refreshes_total') === 1, 20_000, 'the retried refresh in the metrics');
  const refreshed = await scrape(port);
  assert.equal(refreshed.value('kiosk_agent_refresh_failures_total', { reason: 'http_503' }), 1, refreshed.text);
  assert.equal(refreshed.families.get('kiosk_agent_refresh_failures_total')?.metrics.length, 1);

  // Nothing secret, and nobody's identity: no token, device code or user code, no account name or claim.
  const secrets = await kiosk.idp.issued();
  assert.ok(secrets.length > 0);
  for (const text of [waiting.text, signedIn.text, refreshed.text]) {
    for (const secret of secrets) assert.ok(!text.includes(secret), 'an issued secret in /metrics');
    assert.doesNotMatch(text, /alice|example\.test|user_code/i);
  }
  const userCode = /"user_code":"(\w+)"/.exec(kiosk.mqtt.messages.map((m) => m.text).join('\n'))?.[1];
  assert.ok(userCode && !waiting.text.includes(userCode), 'the user code is not in /metrics');

  // The page's rules: a foreign Host is refused before anything is read, and only GET and HEAD are answered.
  assert.equal((await rawRequest(port, '/metrics', { headers: { host: 'evil.example' } })).status, 421);
  assert.equal((await rawRequest(port, '/metrics', { method: 'POST', headers: { host: `127.0.0.1:${port}` } })).status, 405);
  const head = await rawRequest(port, '/metrics', { method: 'HEAD', headers: { host: `localhost:${port}` } });
  assert.deepEqual([head.status, head.body], [200, '']);
});

test('/metrics is not served unless KIOSK_METRICS=true', async (t) => {
  const port = await freePort();
  const kiosk = await startKiosk(t, { env: { KIOSK_DISPLAY: 'web', KIOSK_WEB_PORT: String(port) } });
  await kiosk.agent.waitForState('awaiting_sign_in');
  assert.equal((await rawRequest(port, '/metrics', { headers: { host: `127.0.0.1:${port}` } })).status, 404);
});
