import { loadedMsal } from './msal.js';
import type { ProviderFault } from '../state.js';

/** What the network client saw on the wire, which MSAL's own errors often drop. */
export interface ProviderFailure {
  readonly kind: 'network' | 'unavailable' | 'provider';
  /** OAuth error (`invalid_client`), `http_503`, or `provider_unreachable`. */
  readonly code: string;
  /** Entra's AADSTS code when the body carried one. */
  readonly aadsts?: string;
  /** First line of the provider's description, scrubbed of secrets. */
  readonly description: string;
  readonly status?: number;
  readonly retryAfterMs?: number;
}

/** Every way an attempt to get tokens can end, as the lifecycle acts on it. */
export type Outcome =
  | { kind: 'expired' }
  | { kind: 'declined' }
  | { kind: 'cancelled' }
  | { kind: 'interaction_required'; code: string }
  | { kind: 'network'; code: string; retryAfterMs?: number }
  | { kind: 'fatal'; fault: ProviderFault };

/** The signing keys for an ID token could not be fetched: retried like a network fault, nothing shown meanwhile. */
export const KEYS_UNREACHABLE = 'keys_unreachable';

const CONDITIONAL_ACCESS =
  'ask the tenant\'s administrator to exclude this app (KIOSK_CLIENT_ID) or this kiosk\'s location from the Conditional Access policy';

/**
 * Faults an administrator causes (CONTRACT §1): shown as `error` with the AADSTS code, whatever OAuth error
 * carried them (a Conditional Access block arrives as `invalid_grant` or `interaction_required`, which
 * would otherwise read as an ordinary sign-in to redo).
 */
const ADMINISTRATOR_FIXES: Record<string, string> = {
  AADSTS53003: `Conditional Access blocked the sign-in: ${CONDITIONAL_ACCESS} whose "authentication flows" condition blocks the device code flow`,
  AADSTS530033: `Conditional Access blocked the sign-in: ${CONDITIONAL_ACCESS} that blocks the device code flow for this kind of device`,
  AADSTS53000: `Conditional Access requires a compliant or joined device, which a kiosk signing in by code is not: ${CONDITIONAL_ACCESS} on device state`,
  AADSTS53001: `Conditional Access requires a domain-joined device, which a kiosk signing in by code is not: ${CONDITIONAL_ACCESS} on device state`,
  AADSTS50097: `Conditional Access requires device authentication, which a kiosk signing in by code cannot give: ${CONDITIONAL_ACCESS} on device authentication`,
  AADSTS7000218: 'the app registration does not allow public client flows: turn on "Allow public client flows" under Authentication',
  AADSTS700016: 'the application (client) id is unknown to this tenant: check KIOSK_CLIENT_ID and KIOSK_AUTHORITY',
  AADSTS500208:
    "this page refuses the tenant's own accounts: set KIOSK_VERIFICATION_URI to the tenant's page, https://<tenant>.ciamlogin.com/common/oauth2/deviceauth",
};

/** The one-line fix shown for faults that a retry will not mend (CONTRACT §1 `error`). */
const FIXES: Record<string, string> = {
  ...ADMINISTRATOR_FIXES,
  unauthorized_client: 'the application (client) id is unknown or not allowed here: check KIOSK_CLIENT_ID and KIOSK_AUTHORITY',
  invalid_client: 'the app registration refused a public client: turn on "Allow public client flows" and check KIOSK_CLIENT_ID',
  AADSTS90002: 'the tenant in KIOSK_AUTHORITY does not exist: check its tenant name',
  invalid_tenant: 'the tenant in KIOSK_AUTHORITY does not exist: check its tenant name',
  AADSTS70011: 'a scope in KIOSK_SCOPES is not valid for this app: fix KIOSK_SCOPES',
  invalid_scope: 'a scope in KIOSK_SCOPES is not valid for this app: fix KIOSK_SCOPES',
  http_404: 'KIOSK_AUTHORITY does not lead to an identity provider (HTTP 404): check the URL',
  authority_not_found: 'KIOSK_AUTHORITY does not lead to an identity provider (no discovery document): check the URL',
  issuer_not_trusted: "the provider's issuer host is not trusted: add it to KIOSK_KNOWN_AUTHORITIES (e.g. https://<tenant-id>.ciamlogin.com)",
  tls_untrusted: "the provider's TLS certificate is not trusted: install its CA (NODE_EXTRA_CA_CERTS) and check the device clock",
  invalid_id_token: 'the ID token failed verification (signature, issuer, audience or expiry): check the device clock and the provider',
};
const DEFAULT_FIX = 'the identity provider refused the request: see Troubleshooting in the README for this code';

const TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const EXPIRED = new Set(['expired_token', 'device_code_expired', 'bad_verification_code', 'code_expired']);
const DECLINED = new Set(['authorization_declined', 'access_denied']);
const INTERACTION = new Set(['invalid_grant', 'no_tokens_found', 'interaction_required', 'login_required', 'consent_required', 'no_account_found']);
const DISCOVERY = new Set(['endpoints_resolution_error', 'openid_config_error', 'untrusted_authority', 'issuer_validation_failed']);

/** The fix for a code; own entries only (a provider's error may well be `constructor` or `__proto__`). */
const fixFor = (code: string): string | undefined => (Object.hasOwn(FIXES, code) ? FIXES[code] : undefined);

export function fault(code: string, detail?: string): ProviderFault {
  const fix = fixFor(code) ?? DEFAULT_FIX;
  return { code, message: detail ? `${detail}; ${fix}` : fix };
}

function providerFault(f: ProviderFailure): ProviderFault {
  const code = f.aadsts ?? f.code;
  const own = fixFor(code);
  // Entra's own code says what to change; a bare OAuth error is named in front of the general fix.
  return { code, message: own ?? `${f.code}: ${fixFor(f.code) ?? DEFAULT_FIX}` };
}

const isAdministratorFault = (f: ProviderFailure | undefined): f is ProviderFailure & { aadsts: string } =>
  f?.aadsts !== undefined && Object.hasOwn(ADMINISTRATOR_FIXES, f.aadsts);

function fromWire(f: ProviderFailure): Outcome {
  if (f.kind === 'network') {
    // A certificate "not yet valid" means the kiosk's clock is behind (a Pi before NTP): NTP fixes it
    // within minutes, so it is retried like a network fault, not shown as an error for five.
    if (f.description === 'CERT_NOT_YET_VALID') return { kind: 'network', code: 'clock_behind' };
    return TLS_CODES.has(f.description) ? { kind: 'fatal', fault: fault('tls_untrusted', f.description) } : { kind: 'network', code: f.code };
  }
  if (f.kind === 'unavailable') return { kind: 'network', code: f.code, retryAfterMs: f.retryAfterMs };
  if (EXPIRED.has(f.code)) return { kind: 'expired' };
  if (DECLINED.has(f.code)) return { kind: 'declined' };
  if (INTERACTION.has(f.code)) return { kind: 'interaction_required', code: f.aadsts ?? f.code };
  return { kind: 'fatal', fault: providerFault(f) };
}

/**
 * Maps what MSAL threw, with what the network client saw on the wire, to an outcome. MSAL hides
 * discovery causes behind `endpoints_resolution_error` and polling errors behind
 * `post_request_failed`; the wire record tells them apart.
 */
export function classify(error: unknown, wire: ProviderFailure | undefined): Outcome {
  const msal = loadedMsal();
  if (msal === undefined || !(error instanceof msal.AuthError)) {
    return { kind: 'fatal', fault: fault('unexpected', error instanceof Error ? error.name : 'unknown error') };
  }
  // MSAL copies a provider's `error` into `errorCode` (and the description into `errorMessage`) as they come.
  const code = String(error.errorCode);
  if (code === 'device_code_polling_cancelled') return { kind: 'cancelled' };
  if (code === 'device_code_expired') return { kind: 'expired' };
  if (isAdministratorFault(wire)) return { kind: 'fatal', fault: providerFault(wire) };
  // A refresh token expired or revoked (700082, 70043, 50173): the reason is Entra's code when it gave one.
  if (error instanceof msal.InteractionRequiredAuthError || INTERACTION.has(code)) return { kind: 'interaction_required', code: wire?.aadsts ?? code };
  if (wire) return fromWire(wire);
  if (DISCOVERY.has(code)) return { kind: 'fatal', fault: fault(code === 'endpoints_resolution_error' ? 'issuer_not_trusted' : 'authority_not_found') };
  const oauthError = String(error.errorMessage).split(/[\s:]/)[0] ?? '';
  if (EXPIRED.has(oauthError)) return { kind: 'expired' };
  if (DECLINED.has(oauthError)) return { kind: 'declined' };
  if (code === 'network_error' || code === 'provider_unreachable') return { kind: 'network', code };
  return { kind: 'fatal', fault: fault(code) };
}
