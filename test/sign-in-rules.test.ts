import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { AuthError, InteractionRequiredAuthError } from '@azure/msal-node';
import { expectedTenant } from '../src/auth/id-token.js';
import { loadMsal } from '../src/auth/msal.js';
import { classify } from '../src/auth/provider-errors.js';
import type { ProviderFailure } from '../src/auth/provider-errors.js';
import { signInPage } from '../src/auth/sign-in-page.js';

// The agent loads MSAL on first use; its errors, made here, exist only once it has.
before(() => loadMsal());

const CIAM = 'https://contoso.ciamlogin.com/';
const TID = '8f1c6b64-3e2a-4c55-9c0f-1c2b3a4d5e6f';

test('the sign-in page: External ID swaps the global page for the tenant\'s own; elsewhere the provider\'s', () => {
  for (const global of ['https://microsoft.com/devicelogin', 'https://www.microsoft.com/devicelogin/', 'https://login.microsoft.com/device', 'https://aka.ms/devicelogin']) {
    const page = signInPage('auto', CIAM, { uri: global });
    assert.equal(page.verificationUri, 'https://contoso.ciamlogin.com/common/oauth2/deviceauth', global);
    assert.equal(page.verificationUriComplete, undefined, 'Entra takes no code in the URL: the QR carries the page');
    assert.match(page.reason, /AADSTS500208/);
  }
  // A tenant-named authority path keeps its origin only.
  assert.equal(signInPage('auto', `https://contoso.ciamlogin.com/${TID}/`, { uri: 'https://microsoft.com/devicelogin' }).verificationUri,
    'https://contoso.ciamlogin.com/common/oauth2/deviceauth');
  // Workforce tenants and other providers keep the page they name, with the code in the URL when given.
  assert.deepEqual(signInPage('auto', `https://login.microsoftonline.com/${TID}/`, { uri: 'https://microsoft.com/devicelogin' }),
    { verificationUri: 'https://microsoft.com/devicelogin', verificationUriComplete: undefined, reason: "the provider's page" });
  assert.deepEqual(signInPage('auto', 'https://idp.example/t/', { uri: 'https://idp.example/device', complete: 'https://idp.example/device?user_code=A' }),
    { verificationUri: 'https://idp.example/device', verificationUriComplete: 'https://idp.example/device?user_code=A', reason: "the provider's page" });
  // An External ID tenant whose provider already names a page of its own keeps it.
  assert.equal(signInPage('auto', CIAM, { uri: 'https://contoso.ciamlogin.com/common/oauth2/deviceauth' }).verificationUri, 'https://contoso.ciamlogin.com/common/oauth2/deviceauth');
  // KIOSK_VERIFICATION_URI set: that page, always, and never a code-bearing URL for another page.
  assert.deepEqual(signInPage('https://sign-in.contoso.example/', CIAM, { uri: 'https://idp.example/device', complete: 'https://idp.example/device?user_code=A' }),
    { verificationUri: 'https://sign-in.contoso.example/', reason: 'KIOSK_VERIFICATION_URI names it' });
});

test('the tenant an ID token must name: the authority\'s tenant id, else the one in the issuer; none for multi-tenant', () => {
  assert.equal(expectedTenant(`https://127.0.0.1:8443/${TID}/`, undefined), TID);
  assert.equal(expectedTenant(CIAM, `https://${TID}.ciamlogin.com/${TID}/v2.0`), TID);
  assert.equal(expectedTenant('https://contoso.ciamlogin.com/contoso.onmicrosoft.com/', `https://contoso.ciamlogin.com/${TID}/v2.0`), TID);
  assert.equal(expectedTenant('https://login.microsoftonline.com/common/', 'https://login.microsoftonline.com/{tenantid}/v2.0'), undefined);
  assert.equal(expectedTenant(CIAM, undefined), undefined, 'nothing saved yet: nothing to hold it to');
  assert.equal(expectedTenant('https://idp.example/', 'https://idp.example/'), undefined);
});

const wire = (code: string, aadsts?: string): ProviderFailure => ({ kind: 'provider', code, aadsts, description: `${aadsts ?? code}: …`, status: 400 });

test('administrator faults are errors with the AADSTS code and a fix, whatever OAuth error carried them', () => {
  const polling = new AuthError('post_request_failed', 'invalid_grant');
  for (const [aadsts, oauth, fix] of [
    ['AADSTS53003', 'invalid_grant', /Conditional Access.*"authentication flows"/],
    ['AADSTS530033', 'invalid_grant', /Conditional Access/],
    ['AADSTS53000', 'interaction_required', /compliant or joined device/],
    ['AADSTS53001', 'interaction_required', /domain-joined/],
    ['AADSTS50097', 'interaction_required', /device authentication/],
    ['AADSTS7000218', 'invalid_client', /Allow public client flows/],
    ['AADSTS700016', 'unauthorized_client', /KIOSK_CLIENT_ID/],
    ['AADSTS500208', 'invalid_request', /KIOSK_VERIFICATION_URI/],
  ] as const) {
    for (const error of [polling, new InteractionRequiredAuthError(oauth, 'x')]) {
      const outcome = classify(error, wire(oauth, aadsts));
      assert.equal(outcome.kind, 'fatal', `${aadsts} via ${error.name}`);
      if (outcome.kind !== 'fatal') continue;
      assert.equal(outcome.fault.code, aadsts);
      assert.match(outcome.fault.message, fix);
      assert.ok(!outcome.fault.message.includes('\n'), 'one line');
    }
  }
});

test('an expired or revoked refresh token asks for a fresh code, with Entra\'s code as the reason', () => {
  for (const aadsts of ['AADSTS700082', 'AADSTS70043', 'AADSTS50173', 'AADSTS70008']) {
    assert.deepEqual(classify(new InteractionRequiredAuthError('invalid_grant', 'x'), wire('invalid_grant', aadsts)), { kind: 'interaction_required', code: aadsts });
  }
  assert.deepEqual(classify(new InteractionRequiredAuthError('invalid_grant', 'x'), undefined), { kind: 'interaction_required', code: 'invalid_grant' });
  assert.deepEqual(classify(new InteractionRequiredAuthError('no_tokens_found', 'x'), undefined), { kind: 'interaction_required', code: 'no_tokens_found' });
});
