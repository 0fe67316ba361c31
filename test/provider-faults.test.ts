import assert from 'node:assert/strict';
import { test } from 'node:test';
import { approveNext, CLIENT_ID, startKiosk } from './helpers/kiosk.js';
import { eventually } from './helpers/wait.js';

test('provider down at boot: offline, then a code as soon as it is back', async (t) => {
  const { idp, agent } = await startKiosk(t, { before: (p) => p.stop() });
  const offline = await agent.waitForState('offline');
  assert.ok(Date.parse(String(offline.retry_at)) > Date.parse(String(offline.time)), 'offline shows when it retries');
  await idp.start();
  await agent.waitForState('awaiting_sign_in', 20_000);
  await approveNext(idp);
  await agent.waitForState('signed_in');
});

test('provider 500s and timeouts at boot: offline with backoff, never a crash', async (t) => {
  const { idp, agent } = await startKiosk(t, {
    env: { KIOSK_HTTP_TIMEOUT: '1' },
    before: (p) => p.faults({ fail_next: 2, fail_status: 500, hang_next: 1, hang_endpoints: ['devicecode'] }),
  });
  await agent.waitForState('offline');
  await agent.waitForState('awaiting_sign_in', 30_000);
  assert.equal(agent.child.exitCode, null, 'the agent is still running');
  const faults = (await idp.requests()).filter((r) => r.fault);
  assert.deepEqual([...new Set(faults.map((r) => r.fault))].sort(), ['fail', 'hang']);
  await approveNext(idp);
  await agent.waitForState('signed_in');
});

test('polling respects the interval and slow_down', async (t) => {
  const { idp, agent } = await startKiosk(t, { before: (p) => p.faults({ device_code_interval: 1, slow_down_next: 1 }) });
  await agent.waitForState('awaiting_sign_in');
  const [code] = await idp.waitForPending();
  const polls = async () => (await idp.requests()).filter((r) => r.endpoint === 'token' && r.code_id === code!.code_id);
  await eventually(async () => {
    const seen = await polls();
    return seen.length - seen.findIndex((p) => p.error === 'slow_down') > 2 && seen.some((p) => p.error === 'slow_down');
  }, 20_000, 'two polls after a slow_down');
  await idp.approve(code!.user_code);
  await agent.waitForState('signed_in');
  const seen = await polls();
  assert.ok(seen.some((p) => p.error === 'slow_down'), 'the provider asked to slow down');
  let required = 1_000;
  for (let i = 1; i < seen.length; i++) {
    if (seen[i - 1]!.error === 'slow_down') required += 5_000;
    const gap = seen[i]!.at - seen[i - 1]!.at;
    assert.ok(gap >= required - 50, `poll ${i} came ${gap} ms after the previous one; at least ${required} ms were due`);
  }
});

for (const [fault, reason] of [
  ['forged', 'signature'],
  ['expired', 'expired'],
  ['wrong_audience', 'audience'],
] as const) {
  test(`an ID token that is ${fault.replace('_', ' ')} is rejected: no claims, no sign-in`, async (t) => {
    const { idp, agent } = await startKiosk(t, { before: (p) => p.faults({ id_token_fault: fault }) });
    await agent.waitForState('awaiting_sign_in');
    await approveNext(idp);
    const error = await agent.waitForState('error');
    assert.equal((error.error as { code: string }).code, 'invalid_id_token', reason);
    assert.ok(!agent.states().includes('signed_in'));
    assert.ok(!agent.stdout().includes('Alice Example'), 'no claim reached the display');
  });
}

test('the provider keys unreachable at sign-in: verifying, then signed in once they are back; never signed out', async (t) => {
  const { idp, agent } = await startKiosk(t, { before: (p) => p.faults({ drop_next: 1, drop_endpoints: ['keys'] }) });
  await agent.waitForState('awaiting_sign_in');
  await approveNext(idp);
  const verifying = await agent.waitForState('offline');
  assert.match(String(verifying.detail), /Verifying sign-in/);
  await agent.waitForState('signed_in');
  assert.ok(!agent.states().includes('error'), agent.states().join(' → '));
  assert.equal(agent.logs().filter((l) => l.event === 'code_issued').length, 1, 'no second code: the approval stands');
  assert.ok(!agent.logs().some((l) => l.event === 'signed_out'), 'never signed out');
  assert.ok((await idp.requests()).some((r) => r.endpoint === 'keys' && r.fault === 'drop'), 'the keys request was dropped');
});

for (const [kind, aadsts] of [
  ['unknown_clients', 'AADSTS700016'],
  ['public_client_disabled_clients', 'AADSTS7000218'],
] as const) {
  test(`${kind.replace(/_/g, ' ')}: error state with the provider's code and a fix`, async (t) => {
    const { agent } = await startKiosk(t, { before: (p) => p.faults({ [kind]: [CLIENT_ID] }) });
    const error = await agent.waitForState('error');
    const { code, message } = error.error as { code: string; message: string };
    assert.equal(code, aadsts);
    assert.match(message, /KIOSK_CLIENT_ID|public client/);
    await eventually(() => agent.stdout().includes(aadsts), 5_000, 'the code on screen');
  });
}

test('an External ID issuer on the tenant-id host needs KIOSK_KNOWN_AUTHORITIES', async (t) => {
  // Like https://contoso.ciamlogin.com/ → …/contoso.onmicrosoft.com/, whose discovery may name a GUID issuer host.
  const refused = await startKiosk(t, {
    idp: { tenantAliases: ['contoso.onmicrosoft.com'] },
    authority: (p) => `${p.origin}/contoso.onmicrosoft.com/`,
    before: (p) => p.faults({ issuer: `https://${p.tenantId}.ciamlogin.com/${p.tenantId}/v2.0` }),
  });
  const error = await refused.agent.waitForState('error');
  assert.equal((error.error as { code: string }).code, 'issuer_not_trusted');
  await refused.agent.stop('SIGKILL');

  const accepted = await refused.reboot({ KIOSK_KNOWN_AUTHORITIES: `https://${refused.idp.tenantId}.ciamlogin.com` });
  await accepted.waitForState('awaiting_sign_in');
  // The refused boot asked for a code with its discovery request and never showed it: the one on screen now signs in.
  await eventually(() => /Code: \w+/.test(accepted.stdout()), 10_000, 'the code on screen');
  await refused.idp.approve(/Code: (\w+)/.exec(accepted.stdout())![1]!);
  await accepted.waitForState('signed_in');
});

test('an authority naming an unknown tenant: error state with AADSTS90002 and a fix', async (t) => {
  const { agent } = await startKiosk(t, { authority: (p) => `${p.origin}/no-such-tenant.onmicrosoft.com/` });
  const error = await agent.waitForState('error');
  const { code, message } = error.error as { code: string; message: string };
  assert.equal(code, 'AADSTS90002');
  assert.match(message, /KIOSK_AUTHORITY/);
  assert.ok(Date.parse(String(error.retry_at)) > Date.parse(String(error.time)) + 60_000, 'retried slowly, minutes later');
});
