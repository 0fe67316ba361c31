import { randomUUID } from 'node:crypto';

/** One error as the Microsoft identity platform reports it: OAuth error string, AADSTS code, HTTP status. */
export interface EntraError {
  readonly status: number;
  readonly error: string;
  /** AADSTS number; undefined for errors that are not the STS's (e.g. an unknown path). */
  readonly code?: number;
  readonly message: string;
  readonly suberror?: string;
}

export interface EntraErrorBody {
  error: string;
  error_description: string;
  error_codes?: number[];
  timestamp: string;
  trace_id: string;
  correlation_id: string;
  error_uri?: string;
  suberror?: string;
}

/** `2024-07-31T08:00:26.4480000Z`: .NET's round-trip format, as Entra writes dates inside messages. */
const dotnetDate = (t: number): string => new Date(t).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');

/** Conditional Access blocks the administrator fault `conditional_access` can cause, with Entra's OAuth error. */
export const CONDITIONAL_ACCESS_BLOCKS = {
  53003: { error: 'invalid_grant', message: 'Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.' },
  530033: { error: 'invalid_grant', message: 'Access has been blocked by Conditional Access policies. Remote device flow blocked due to a device-based Conditional Access policy.' },
  53000: {
    error: 'interaction_required',
    message: 'Device is not in required device state: compliant. Conditional Access policy requires a compliant device, and the device is not compliant. The user must enroll their device with an approved MDM provider like Intune.',
  },
  53001: {
    error: 'interaction_required',
    message: 'Device is not in required device state: domain_joined. Conditional Access policy requires a domain joined device, and the device is not domain joined.',
  },
  50097: { error: 'interaction_required', message: 'Device authentication is required.' },
} as const;
export type ConditionalAccessCode = keyof typeof CONDITIONAL_ACCESS_BLOCKS;
export const CONDITIONAL_ACCESS_CODES = Object.keys(CONDITIONAL_ACCESS_BLOCKS).map(Number) as ConditionalAccessCode[];

/** The AADSTS codes `invalid_grant_next` can answer with (`invalid_grant_aadsts`). */
export const INVALID_GRANT_CODES = [70008, 700082, 70043, 50173] as const;
export type InvalidGrantCode = (typeof INVALID_GRANT_CODES)[number];

/** What the global sign-in page says to an External ID tenant's own (local customer) account. */
export const LOGIN_DOMAIN_REFUSED = { code: 500208, message: 'The domain is not a valid login domain for the account type.' } as const;

const e = (status: number, error: string, code: number | undefined, message: string, suberror?: string): EntraError => ({
  status,
  error,
  code,
  message,
  suberror,
});

/** The errors this provider answers with; codes and texts follow what Entra sends. */
export const entraErrors = {
  tenantNotFound: (tenant: string) =>
    e(400, 'invalid_tenant', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`),
  missingParameter: (name: string) => e(400, 'invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`),
  postOnly: (method: string) => e(400, 'invalid_request', 900561, `The endpoint only accepts POST, OPTIONS requests. Received a ${method} request.`),
  unsupportedGrantType: (grantType: string) => e(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`),
  unknownClient: (clientId: string, tenantId: string) =>
    e(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`),
  publicClientFlowsDisabled: () =>
    e(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
  authorizationPending: () =>
    e(400, 'authorization_pending', 70016, 'The provided request has not yet been authorized by the user. The user must input their code.'),
  // Entra documents no AADSTS code of its own for slow_down (a variant of authorization_pending): 70016 is reused.
  slowDown: (interval: number) =>
    e(400, 'slow_down', 70016, `The client is polling too frequently. Wait at least ${interval} seconds between requests.`),
  declined: () => e(400, 'authorization_declined', 70000, 'The user declined the authorization request.'),
  expiredToken: () => e(400, 'expired_token', 70019, 'Verification code expired.'),
  badVerificationCode: () => e(400, 'bad_verification_code', 70018, 'Invalid verification code. The device code is not known.'),
  codeRedeemed: () =>
    e(400, 'invalid_grant', 54005, 'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.'),
  refreshTokenMalformed: () => e(400, 'invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid.', 'bad_token'),
  refreshTokenExpired: () =>
    e(400, 'invalid_grant', 70008, 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.', 'bad_token'),
  refreshTokenRevoked: () =>
    e(400, 'invalid_grant', 50173, 'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.', 'bad_token'),
  refreshTokenInactive: (issuedAt: number) =>
    e(400, 'invalid_grant', 700082, `The refresh token has expired due to inactivity. The token was issued on ${dotnetDate(issuedAt)} and was inactive for 90.00:00:00.`, 'bad_token'),
  signInFrequency: (issuedAt: number) =>
    e(400, 'invalid_grant', 70043, `The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on ${dotnetDate(issuedAt)} and the maximum allowed lifetime for this request is 43200.`, 'bad_token'),
  /** The `invalid_grant_next` fault's answer, with the code `invalid_grant_aadsts` names. */
  invalidGrant: (code: InvalidGrantCode, issuedAt: number): EntraError => {
    switch (code) {
      case 700082: return entraErrors.refreshTokenInactive(issuedAt);
      case 70043: return entraErrors.signInFrequency(issuedAt);
      case 50173: return entraErrors.refreshTokenRevoked();
      case 70008: return entraErrors.refreshTokenExpired();
    }
  },
  // Entra marks these `message_only`: the person can do nothing about it but read the message.
  conditionalAccess: (code: ConditionalAccessCode) =>
    e(400, CONDITIONAL_ACCESS_BLOCKS[code].error, code, CONDITIONAL_ACCESS_BLOCKS[code].message, 'message_only'),
  grantInvalid: () => e(400, 'invalid_grant', 70000, 'Provided grant is invalid or malformed.', 'bad_token'),
  multipleResources: (scope: string) =>
    e(400, 'invalid_scope', 28000, `Provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${scope} is not valid.`),
  serverError: (status: number) =>
    e(status, 'server_error', 50000, 'There was an error issuing a token or an issue with our sign-in service.'),
  notFound: (path: string) => e(404, 'invalid_request', undefined, `The local identity provider has no endpoint at '${path}'.`),
  methodNotAllowed: (method: string) => e(405, 'invalid_request', undefined, `The endpoint does not accept ${method} requests.`),
  tooLarge: () => e(413, 'invalid_request', undefined, 'The request body is too large.'),
} as const;

/** `2022-08-25 09:34:07Z`, Entra's timestamp format. */
export const entraTimestamp = (now: number): string => new Date(now).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');

/** The JSON body Entra sends for `err`, with a fresh trace id and the caller's correlation id. */
export function entraErrorBody(err: EntraError, correlationId: string, now = Date.now()): EntraErrorBody {
  const traceId = randomUUID();
  const timestamp = entraTimestamp(now);
  const prefix = err.code === undefined ? '' : `AADSTS${err.code}: `;
  const body: EntraErrorBody = {
    error: err.error,
    error_description: `${prefix}${err.message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: err.code === undefined ? undefined : [err.code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: err.code === undefined ? undefined : `https://login.microsoftonline.com/error?code=${err.code}`,
    suberror: err.suberror,
  };
  return JSON.parse(JSON.stringify(body)) as EntraErrorBody;
}
