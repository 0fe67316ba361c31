import assert from 'node:assert/strict';
import { appendFile, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'mqtt';
import { freePort, Observer } from './helpers/broker.js';
import type { Message } from './helpers/broker.js';
import {
  buildImages,
  composeCommand,
  composeEnv,
  DEMO_AUTHORITY,
  hostGatewayIp,
  inspect,
  must,
  needEngine,
  project,
  readEnvFile,
  ROOT,
  sh,
  waitHealthy,
} from './helpers/container.js';
import { loadOrCreatePki } from '../src/idp/pki.js';
import { startTestIdp } from './helpers/idp.js';

interface KioskState {
  state: string;
  user_code?: string;
  account?: { username: string };
}
const stateOf = (m: Message): KioskState => JSON.parse(m.text) as KioskState;
const inState = (name: string) => (m: Message) => m.text !== '' && stateOf(m).state === name;

test('docker-compose config validates docker-compose.yml, its demo profile and every override in deploy/', async (t) => {
  if (!(await needEngine(t))) return;
  const [cmd, pre] = composeCommand();
  const overrides = (await readdir(join(ROOT, 'deploy'))).filter((f) => /\.ya?ml$/.test(f));
  assert.ok(overrides.includes('compose.pi.yml') && overrides.includes('compose.bridge.yml'), `overrides: ${overrides.join(', ')}`);
  const env = composeEnv({ COMPOSE_PROJECT_NAME: `katcfg${process.pid}` });
  for (const files of [[], ...overrides.map((f) => [`deploy/${f}`])]) {
    for (const profile of [[], ['--profile', 'demo']]) {
      const args = [...pre, '-f', 'docker-compose.yml', ...files.flatMap((f) => ['-f', f]), ...profile, 'config', '-q'];
      const r = await sh(cmd, args, { env });
      assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
    }
  }
  // The contract's names (CONTRACT §7): services, published ports on 127.0.0.1 by default, settings.
  const config = await must(cmd, [...pre, '--profile', 'demo', 'config'], { env });
  for (const name of ['mosquitto:', 'agent:', 'idp:', '127.0.0.1:1883:1883', '127.0.0.1:8443:8443', '127.0.0.1:8080:8080']) assert.ok(config.includes(name), `config lacks ${name}`);
  const wide = await must(cmd, [...pre, 'config'], { env: { ...env, MQTT_HOST_BIND: '0.0.0.0', MQTT_HOST_PORT: '11883' } });
  assert.ok(wide.includes('0.0.0.0:11883:1883'), 'MQTT_HOST_BIND and MQTT_HOST_PORT set the broker address');
});

test('a busy default port: docker-compose fails with the error the compose file and the README explain, and docker/demo-ports.env moves every port', async (t) => {
  if (!(await needEngine(t))) return;
  const [cmd, pre] = composeCommand();
  // What the documents tell a person whose machine runs its own Mosquitto on the broker's port.
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const composeFile = await readFile(join(ROOT, 'docker-compose.yml'), 'utf8');
  for (const [name, text] of [['README.md', readme], ['docker-compose.yml', composeFile]] as const) {
    assert.match(text, /address already in use/, `${name} quotes the error`);
    assert.match(text, /port is already allocated/, `${name} quotes the error for a port another container holds`);
    assert.match(text, /--env-file docker\/demo-ports\.env/, `${name} says how to move the ports`);
  }
  const moved = await must(cmd, [...pre, '--env-file', 'docker/demo-ports.env', '--profile', 'demo', 'config'], { env: composeEnv({ COMPOSE_PROJECT_NAME: `katports${process.pid}` }) });
  for (const port of ['127.0.0.1:11883:1883', '127.0.0.1:18443:8443', '127.0.0.1:18444:8444', '127.0.0.1:18080:8080', 'https://127.0.0.1:18443/device']) assert.ok(moved.includes(port), `moved config lacks ${port}`);

  // The port held by a process of the machine's own, as a system Mosquitto holds 1883.
  const holder = createServer().listen(0, '127.0.0.1');
  await once(holder, 'listening');
  t.after(() => new Promise((resolve) => holder.close(resolve)));
  const busy = (holder.address() as AddressInfo).port;
  const p = await project(t, { env: { MQTT_HOST_PORT: String(busy) } });
  const up = await p.compose(['up', '-d', '--no-build', 'mosquitto'], 120_000);
  t.diagnostic(`docker-compose said: ${(up.stdout + up.stderr).trim().split('\n').slice(-2).join(' / ')}`);
  assert.notEqual(up.code, 0, 'up fails on a busy port');
  assert.match(up.stdout + up.stderr, /address already in use|port is already allocated/, 'the error the documents explain');
});

test('without the demo profile the agent needs a real authority in its env file: exit 78 naming KIOSK_AUTHORITY', async (t) => {
  if (!(await needEngine(t))) return;
  await buildImages();
  const p = await project(t);
  const r = await p.compose(['run', '--rm', '--no-deps', '-T', 'agent'], 120_000);
  assert.equal(r.code, 78, r.stdout + r.stderr);
  assert.match(r.stderr, /KIOSK_AUTHORITY/);
  assert.match(r.stderr, /--profile demo/);
});

test('docker-compose up for a generated site: awaiting_sign_in with a user code from the real authority; the ACL refuses another device', async (t) => {
  if (!(await needEngine(t))) return;
  await buildImages();
  // "A real authority": an identity provider outside the compose project, reached by name over TLS.
  const gateway = await hostGatewayIp();
  const idp = await startTestIdp({ host: gateway, hostnames: ['login.test'] });
  t.after(() => idp.close());
  assert.match(idp.authority, /^https:\/\/login\.test:\d+\//);

  // Removed after the compose project is down (after-hooks run in the order they were added).
  const work = await mkdtemp(join(tmpdir(), 'kiosk-site-'));
  const site = join(work, 'site');
  const install = join(work, 'install');
  const clientId = 'a3c0e9f4-7e1b-4f4c-9d35-52c1b8f0e6a7';
  await must('bash', [join(ROOT, 'deploy/make-devices.sh'), '-o', site, '--install-dir', install, '--authority', idp.authority, '--client-id', clientId, 'kiosk-a', 'kiosk-b']);
  // Install kiosk-a's files and the broker's, as deploy/README.md says.
  await mkdir(join(install, 'broker'), { recursive: true });
  for (const f of ['agent.env', 'mqtt-password', 'compose.env']) await copyFile(join(site, 'devices/kiosk-a', f), join(install, f));
  for (const f of ['passwd', 'acl']) await copyFile(join(site, 'broker', f), join(install, 'broker', f));
  await must('sh', ['-c', `chown 1000:1000 '${install}/mqtt-password' && chown 1883:1883 '${install}/broker/passwd' || chmod 0644 '${install}/mqtt-password' '${install}/broker/passwd'`]);
  const agentEnv = await readEnvFile(join(install, 'agent.env'));
  assert.equal(agentEnv.KIOSK_DEVICE_ID, 'kiosk-a');
  assert.equal(agentEnv.KIOSK_AUTHORITY, idp.authority);
  // The test provider's CA and name: a test-only override (a real tenant needs neither).
  await copyFile(idp.caFile, join(work, 'ca.pem'));
  await appendFile(join(install, 'agent.env'), 'NODE_EXTRA_CA_CERTS=/run/kiosk-test/ca.pem\n');
  const override = join(work, 'compose.test.yml');
  await writeFile(override, `services:\n  agent:\n    extra_hosts:\n      - "login.test:host-gateway"\n    volumes:\n      - "${work}/ca.pem:/run/kiosk-test/ca.pem:ro"\n`);

  const p = await project(t, { via: join(ROOT, 'deploy/kiosk-compose.sh'), env: { KIOSK_COMPOSE_ENV: join(install, 'compose.env') } });
  t.after(() => rm(work, { recursive: true, force: true }));
  await appendFile(join(install, 'compose.env'), `COMPOSE_PROJECT_NAME=${p.name}\nCOMPOSE_FILE=docker-compose.yml:${override}\n`);
  const started = Date.now();
  await p.mustCompose(['up', '-d', '--no-build']);
  t.diagnostic(`up (broker healthy, agent started) in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const operator = await readEnvFile(join(site, 'operator.env'));
  const watch = await p.observe(operator.MQTT_OPERATOR_USERNAME ?? '', operator.MQTT_OPERATOR_PASSWORD ?? '');
  const awaiting = stateOf(await watch.waitFor('kiosk/kiosk-a/state', inState('awaiting_sign_in'), 60_000));
  t.diagnostic(`awaiting_sign_in ${((Date.now() - started) / 1000).toFixed(1)} s after up`);
  assert.match(awaiting.user_code ?? '', /^[A-Z0-9]{6,}$/);
  assert.deepEqual((await idp.pending()).map((c) => c.user_code), [awaiting.user_code]);
  assert.equal((await watch.waitFor('kiosk/kiosk-a/availability')).text, 'online');

  await t.test('an agent with another device\'s credentials is refused outside its own subtree', async () => {
    // kiosk-a's account, kiosk-b's identity: it runs and asks for a code, but nothing it publishes arrives.
    const intruder = await p.compose(['run', '-d', '--no-deps', '-e', 'KIOSK_DEVICE_ID=kiosk-b', 'agent']);
    assert.equal(intruder.code, 0, intruder.stderr);
    const deadline = Date.now() + 60_000;
    while ((await idp.pending()).length < 2 && Date.now() < deadline) await sleep(250);
    assert.equal((await idp.pending()).length, 2, 'the intruder agent got its own code');
    await sleep(3_000);
    assert.deepEqual(watch.messages.filter((m) => m.topic.startsWith('kiosk/kiosk-b/')).map((m) => m.topic), []);

    // The same from a plain client with kiosk-a's password: its own subtree arrives, forged topics do not.
    const password = (await readFile(join(site, 'devices/kiosk-a/mqtt-password'), 'utf8')).trim();
    const client = connect(`mqtt://127.0.0.1:${p.ports.mqtt}`, { username: 'kiosk-a', password, protocolVersion: 5, reconnectPeriod: 0 });
    t.after(() => client.endAsync(true));
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    const refused = await Promise.allSettled([
      client.publishAsync('kiosk/kiosk-b/state', '{"state":"signed_in"}', { qos: 1, retain: true }),
      client.publishAsync('kiosk/kiosk-b/request/sign_out', '{}', { qos: 1 }),
      client.publishAsync('kiosk/kiosk-a/request/sign_out', '{}', { qos: 1 }),
    ]);
    for (const r of refused) assert.equal(r.status, 'rejected', 'MQTT v5 answers a refused publish with "not authorized"');
    await client.publishAsync('kiosk/kiosk-a/events', '{"event":"acl_probe"}', { qos: 1 });
    await watch.waitFor('kiosk/kiosk-a/events', (m) => m.text.includes('acl_probe'), 5_000);
    await sleep(1_000);
    assert.deepEqual(
      watch.messages.filter((m) => m.topic.startsWith('kiosk/kiosk-b/') || m.topic.includes('/request/')).map((m) => m.topic),
      [],
    );
  });
});

test('the demo profile signs a kiosk in end to end, stays healthy, restarts silently from its cache, and stops with offline and exit 0', async (t) => {
  if (!(await needEngine(t))) return;
  await buildImages();
  const p = await project(t, { demo: true });
  const started = Date.now();
  await p.mustCompose(['up', '-d', '--no-build']);
  const upMs = Date.now() - started;
  t.diagnostic(`up --profile demo in ${(upMs / 1000).toFixed(1)} s`);

  const demo = await readEnvFile(join(ROOT, 'docker/demo.env'));
  const watch = await p.observe(demo.MQTT_OPERATOR_USERNAME ?? '', demo.MQTT_OPERATOR_PASSWORD ?? '');
  const control = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`http://127.0.0.1:${p.ports.control}/${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.equal(res.status, 200, `${method} /${path}`);
    return res.json();
  };
  const deviceCodeRequests = async (): Promise<number> =>
    ((await control('GET', 'requests')) as { endpoint: string }[]).filter((r) => r.endpoint === 'devicecode').length;

  await t.test('the identity provider prints its ready line in docker-compose logs idp', async () => {
    let ready: Record<string, string> | undefined;
    const deadline = Date.now() + 30_000;
    while (!ready && Date.now() < deadline) {
      const logs = await p.mustCompose(['logs', '--no-color', 'idp']);
      const line = logs.split('\n').map((l) => l.replace(/^[^|]*\|\s?/, '')).find((l) => l.startsWith('{"authority"'));
      if (line) ready = JSON.parse(line) as Record<string, string>;
      else await sleep(250);
    }
    assert.ok(ready, 'no ready line');
    assert.equal(ready.authority, DEMO_AUTHORITY);
    assert.equal(ready.verification_uri, `https://127.0.0.1:${p.ports.idp}/device`);
    assert.equal(ready.ca_file, '/idp/ca.pem');
  });

  await t.test('awaiting_sign_in with a user code, then signed_in after approval through the control API', async () => {
    const awaiting = stateOf(await watch.waitFor('kiosk/kiosk-demo/state', inState('awaiting_sign_in'), 60_000));
    t.diagnostic(`awaiting_sign_in ${((Date.now() - started) / 1000).toFixed(1)} s after up started`);
    assert.ok(awaiting.user_code);
    // The verification page is published on the host, over TLS with the demo's own CA.
    const page = await sh('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${p.ports.idp}/device`]);
    if (page.code === 0) assert.equal(page.stdout, '200');
    await control('POST', 'approve', { user_code: awaiting.user_code, user: 'bob' });
    const signedIn = stateOf(await watch.waitFor('kiosk/kiosk-demo/state', inState('signed_in'), 30_000));
    assert.equal(signedIn.account?.username, 'bob@example.test');
    const claims = JSON.parse((await watch.waitFor('kiosk/kiosk-demo/claims', (m) => m.text !== '')).text) as Record<string, string>;
    assert.equal(claims.preferred_username, 'bob@example.test');
  });

  const agent = await p.container('agent');
  await t.test('the agent\'s health check turns healthy', async () => {
    const ms = await waitHealthy(agent, 60_000);
    t.diagnostic(`healthy after another ${ms} ms`);
  });

  await t.test('docker-compose restart agent signs in silently from the cache volume (no new device code)', async () => {
    const codesBefore = await deviceCodeRequests();
    const from = watch.messages.length;
    await p.mustCompose(['restart', 'agent']);
    await watch.waitFor('kiosk/kiosk-demo/state', inState('starting'), 30_000, from);
    const again = stateOf(await watch.waitFor('kiosk/kiosk-demo/state', inState('signed_in'), 30_000, from));
    assert.equal(again.account?.username, 'bob@example.test');
    const states = watch.messages.slice(from).filter((m) => m.topic === 'kiosk/kiosk-demo/state').map((m) => stateOf(m).state);
    assert.ok(!states.includes('awaiting_sign_in'), `states after restart: ${states.join(' → ')}`);
    assert.equal(await deviceCodeRequests(), codesBefore, 'no device code was requested after the restart');
  });

  await t.test('docker-compose stop agent publishes stopped and offline, and the container exits 0 within 5 s', async () => {
    const from = watch.messages.length;
    const stopping = Date.now();
    await p.mustCompose(['stop', 'agent']);
    const stopMs = Date.now() - stopping;
    t.diagnostic(`stop agent took ${stopMs} ms`);
    await watch.waitFor('kiosk/kiosk-demo/state', inState('stopped'), 5_000, from);
    await watch.waitFor('kiosk/kiosk-demo/availability', (m) => m.text === 'offline', 5_000, from);
    const state = (await inspect(agent)).State;
    assert.equal(state.Status, 'exited');
    assert.equal(state.ExitCode, 0);
    assert.ok(stopMs < 5_000, `stop took ${stopMs} ms`);
  });
});


test('the kiosk-app example: an app in the agent\'s network namespace reads identity-header from the agent\'s volume and gets the signed-in account\'s token with @azure/identity', async (t) => {
  // The commented service in docker-compose.yml is deploy/compose.kiosk-app.yml's, line for line.
  const lines = (await readFile(join(ROOT, 'docker-compose.yml'), 'utf8')).split('\n');
  const start = lines.indexOf('  # kiosk-app:');
  assert.ok(start > 0, 'docker-compose.yml has the commented kiosk-app service');
  const uncommented: string[] = [];
  for (let i = start; i < lines.length && lines[i]?.startsWith('  #'); i++) uncommented.push(lines[i] === '  #' ? '' : `  ${lines[i]?.slice(4) ?? ''}`);
  const override = await readFile(join(ROOT, 'deploy/compose.kiosk-app.yml'), 'utf8');
  assert.equal(uncommented.join('\n').trimEnd(), override.slice(override.indexOf('  kiosk-app:\n')).trimEnd());

  if (!(await needEngine(t))) return;
  await buildImages();
  // Test-only additions: a resource for the demo's tenant, and the checkout (the client fixture and its packages) in the app.
  const work = await mkdtemp(join(tmpdir(), 'kiosk-app-'));
  const extra = join(work, 'compose.test.yml');
  await writeFile(extra, `services:\n  agent:\n    environment:\n      KIOSK_TOKEN_RESOURCES: https://graph.microsoft.com\n  kiosk-app:\n    volumes:\n      - "${ROOT}:/src:ro"\n`);
  const p = await project(t, {
    demo: true,
    env: {
      COMPOSE_FILE: `docker-compose.yml:deploy/compose.kiosk-app.yml:${extra}`,
      KIOSK_APP_IMAGE: 'node:22-bookworm-slim',
      KIOSK_APP_COMMAND: 'node /src/test/fixtures/managed-identity-client.mjs identity https://graph.microsoft.com/.default',
    },
  });
  t.after(() => rm(work, { recursive: true, force: true }));
  await p.mustCompose(['up', '-d', '--no-build', 'mosquitto', 'idp', 'agent']);
  const demo = await readEnvFile(join(ROOT, 'docker/demo.env'));
  const watch = await p.observe(demo.MQTT_OPERATOR_USERNAME ?? '', demo.MQTT_OPERATOR_PASSWORD ?? '');
  const awaiting = stateOf(await watch.waitFor('kiosk/kiosk-demo/state', inState('awaiting_sign_in'), 60_000));
  const approved = await fetch(`http://127.0.0.1:${p.ports.control}/approve`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_code: awaiting.user_code, user: 'carol' }),
  });
  assert.equal(approved.status, 200);
  await watch.waitFor('kiosk/kiosk-demo/state', inState('signed_in'), 30_000);

  const run = await p.compose(['run', '--rm', '-T', 'kiosk-app'], 180_000);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const result = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { tokens?: { token: string }[]; error?: unknown };
  assert.equal(result.error, undefined, JSON.stringify(result.error));
  const token = result.tokens?.[0]?.token ?? '';
  const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  assert.equal(claims.aud, 'https://graph.microsoft.com');
  assert.equal(claims.preferred_username, 'carol@example.test');
  const event = await watch.waitFor('kiosk/kiosk-demo/events', (m) => m.text.includes('token_issued'), 10_000);
  assert.equal((JSON.parse(event.text) as { resource: string }).resource, 'https://graph.microsoft.com');
  assert.ok(!event.text.includes(token), 'the event carries no token');
});

test('the site bridge carries kiosk topics to a central broker over verified TLS, and commands back', async (t) => {
  if (!(await needEngine(t))) return;
  const work = await mkdtemp(join(tmpdir(), 'kiosk-bridge-'));
  const central = join(work, 'central');
  const bridge = join(work, 'bridge');
  await mkdir(central);
  await mkdir(bridge);
  // The central cluster: a Mosquitto with a TLS listener for central.test and a site account.
  const pki = await loadOrCreatePki(central, ['central.test']);
  await writeFile(
    join(central, 'mosquitto.conf'),
    'listener 8883\nallow_anonymous false\npassword_file /mosquitto/config/passwd\ncafile /mosquitto/config/ca.pem\ncertfile /mosquitto/config/server.pem\nkeyfile /mosquitto/config/server-key.pem\n',
  );
  await must('sh', ['-c', `printf 'kiosk-bridge-lab:bridge-secret\\ncentral-op:central-secret\\n' | '${ROOT}/docker/mosquitto/make-passwd.sh' '${central}/passwd'`]);
  // The site: the template with its placeholders filled in, and the central CA beside it.
  const template = await readFile(join(ROOT, 'deploy/bridge/bridge.conf.example'), 'utf8');
  await writeFile(
    join(bridge, 'bridge.conf'),
    template.replaceAll('SITE', 'lab').replaceAll('central.example.com', 'central.test').replace(/^remote_password .*$/m, 'remote_password bridge-secret'),
  );
  await writeFile(join(bridge, 'central-ca.pem'), pki.caPem);
  await must('sh', ['-c', `chmod 0644 '${central}'/*.pem '${central}/mosquitto.conf' '${bridge}'/* && chown -R 1883:1883 '${central}/passwd' '${bridge}' || chmod 0644 '${central}/passwd'`]);
  const centralPort = await freePort();
  const centralFile = join(work, 'central.yml');
  await writeFile(
    centralFile,
    `services:\n  central:\n    image: eclipse-mosquitto:2\n    networks:\n      default:\n        aliases: [central.test]\n` +
      `    ports: ["127.0.0.1:${centralPort}:8883"]\n    volumes: ["${central}:/mosquitto/config:ro"]\n`,
  );
  const p = await project(t, { env: { COMPOSE_FILE: `docker-compose.yml:deploy/compose.bridge.yml:${centralFile}`, MQTT_BRIDGE_DIR: bridge } });
  t.after(() => rm(work, { recursive: true, force: true }));
  await p.mustCompose(['up', '-d', '--no-build', 'mosquitto', 'central']);

  const atCentral = connect(`mqtts://127.0.0.1:${centralPort}`, {
    username: 'central-op', password: 'central-secret', ca: pki.caPem, servername: 'central.test', protocolVersion: 5, reconnectPeriod: 500,
  });
  t.after(() => atCentral.endAsync(true));
  const central$ = new Observer(atCentral);
  await atCentral.subscribeAsync('kiosk/#', { qos: 1 });
  const demo = await readEnvFile(join(ROOT, 'docker/demo.env'));
  const kiosk = await p.observe(demo.MQTT_KIOSK_USERNAME ?? '', demo.MQTT_KIOSK_PASSWORD ?? '', 'kiosk/kiosk-demo/request/#');
  const operator = await p.observe(demo.MQTT_OPERATOR_USERNAME ?? '', demo.MQTT_OPERATOR_PASSWORD ?? '', 'kiosk-bridge/#');
  await operator.waitFor('kiosk-bridge/lab/state', (m) => m.text === '1', 60_000);

  // Up: a kiosk's retained state reaches the central cluster.
  await kiosk.client.publishAsync('kiosk/kiosk-demo/state', '{"state":"signed_in"}', { qos: 1, retain: true });
  const up = await central$.waitFor('kiosk/kiosk-demo/state', () => true, 15_000);
  assert.equal(up.text, '{"state":"signed_in"}');
  // Down: an operator's command at the central cluster reaches the kiosk, with its MQTT 5 response topic and
  // correlation data (the bridge speaks MQTT 5), so mosquitto_rr works across it.
  const responseTopic = 'kiosk/kiosk-demo/response/status/central-op';
  await atCentral.publishAsync('kiosk/kiosk-demo/request/status', '{"transaction":"t1"}', { qos: 1, properties: { responseTopic, correlationData: Buffer.from('c1') } });
  const command = await kiosk.waitFor('kiosk/kiosk-demo/request/status', () => true, 15_000);
  assert.equal(command.text, '{"transaction":"t1"}');
  assert.equal(command.properties?.responseTopic, responseTopic);
  assert.equal(command.properties?.correlationData?.toString(), 'c1');
  await kiosk.client.publishAsync(responseTopic, '{"status":"ok"}', { qos: 1, properties: { correlationData: Buffer.from('c1') } });
  const answer = await central$.waitFor(responseTopic, () => true, 15_000);
  assert.equal(answer.properties?.correlationData?.toString(), 'c1', 'the answer carries the correlation data back');

  // A central Home Assistant: the kiosk's discovery config goes up retained, Home Assistant's birth comes down.
  await atCentral.subscribeAsync('homeassistant/#', { qos: 1 });
  const status = await p.observe(demo.MQTT_KIOSK_USERNAME ?? '', demo.MQTT_KIOSK_PASSWORD ?? '', 'homeassistant/status');
  await kiosk.client.publishAsync('homeassistant/device/kiosk-demo/config', '{"device":{"identifiers":["kiosk_agent_kiosk-demo"]}}', { qos: 1, retain: true });
  assert.match((await central$.waitFor('homeassistant/device/kiosk-demo/config', () => true, 15_000)).text, /kiosk_agent_kiosk-demo/);
  await atCentral.publishAsync('homeassistant/status', 'online', { qos: 1 });
  assert.equal((await status.waitFor('homeassistant/status', () => true, 15_000)).text, 'online');
});
