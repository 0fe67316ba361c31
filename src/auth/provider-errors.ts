import { AuthError, InteractionRequiredAuthError } from '@azure/msal-node';
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

/** The one-line fix shown for faults that a retry will not mend (SPEC §1 `error`). */
const FIXES: Record<string, string> = {
  AADSTS700016: 'the application (client) id is unknown to this tenant: check KIOSK_CLIENT_ID and KIOSK_AUTHORITY',
  unauthorized_client: 'the application (client) id is unknown or not allowed here: check KIOSK_CLIENT_ID and KIOSK_AUTHORITY',
  AADSTS7000218: 'the app registration does not allow public client flows: turn on "Allow public client flows" under Authentication',
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
  const fix = fixFor(code) ?? fixFor(f.code) ?? DEFAULT_FIX;
  return { code, message: `${f.code}: ${fix}` };
}

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
  if (INTERACTION.has(f.code)) return { kind: 'interaction_required', code: f.code };
  return { kind: 'fatal', fault: providerFault(f) };
}

/**
 * Maps what MSAL threw, with what the network client saw on the wire, to an outcome. MSAL hides
 * discovery causes behind `endpoints_resolution_error` and polling errors behind
 * `post_request_failed`; the wire record tells them apart.
 */
export function classify(error: unknown, wire: ProviderFailure | undefined): Outcome {
  if (!(error instanceof AuthError)) {
    return { kind: 'fatal', fault: fault('unexpected', error instanceof Error ? error.name : 'unknown error') };
  }
  // MSAL copies a provider's `error` into `errorCode` (and the description into `errorMessage`) as they come.
  const code = String(error.errorCode);
  if (code === 'device_code_polling_cancelled') return { kind: 'cancelled' };
  if (code === 'device_code_expired') return { kind: 'expired' };
  if (error instanceof InteractionRequiredAuthError || INTERACTION.has(code)) return { kind: 'interaction_required', code };
  if (wire) return fromWire(wire);
  if (DISCOVERY.has(code)) return { kind: 'fatal', fault: fault(code === 'endpoints_resolution_error' ? 'issuer_not_trusted' : 'authority_not_found') };
  const oauthError = String(error.errorMessage).split(/[\s:]/)[0] ?? '';
  if (EXPIRED.has(oauthError)) return { kind: 'expired' };
  if (DECLINED.has(oauthError)) return { kind: 'declined' };
  if (code === 'network_error' || code === 'provider_unreachable') return { kind: 'network', code };
  return { kind: 'fatal', fault: fault(code) };
}
