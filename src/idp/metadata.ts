import { issuerFor } from './context.js';
import type { IdpContext } from './context.js';

/** The tenant's OpenID Connect discovery document, shaped like Entra's v2.0 one. */
export function openIdConfiguration(ctx: IdpContext, origin: string): Record<string, unknown> {
  const base = `${origin}/${ctx.store.tenantId}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${base}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: issuerFor(ctx, origin),
    request_uri_parameter_supported: false,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    grant_types_supported: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'name', 'preferred_username', 'email', 'oid', 'tid', 'ver'],
    tenant_region_scope: 'EU',
    cloud_instance_name: 'local.test',
  };
}

/** The JSON Web Key Set clients verify ID tokens with. */
export function jwks(ctx: IdpContext, origin: string): { keys: Record<string, unknown>[] } {
  return { keys: [{ ...ctx.keys.publicJwk, issuer: issuerFor(ctx, origin) }] };
}
