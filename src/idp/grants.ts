import { issuerFor } from './context.js';
import type { IdpContext } from './context.js';
import { pollDeviceCode } from './device-flow.js';
import { entraErrors } from './entra-errors.js';
import type { EntraError } from './entra-errors.js';
import { shortId, hashSecret } from './store.js';
import { REFRESH_TOKEN_LIFETIME, clientInfo, mintAccessToken, mintIdToken, normalizeScope, opaqueSecret, scopeResources } from './tokens.js';
import type { User } from './types.js';

export const DEVICE_CODE_GRANTS = new Set(['device_code', 'urn:ietf:params:oauth:grant-type:device_code']);

export type GrantOutcome = { ok: true; body: Record<string, unknown>; codeId?: string } | { ok: false; err: EntraError; codeId?: string };

const fail = (err: EntraError, codeId?: string): GrantOutcome => ({ ok: false, err, codeId });

/** Client registration faults: an unknown application, or one that does not allow public client flows. */
export function clientError(ctx: IdpContext, clientId: string, atTokenEndpoint: boolean): EntraError | undefined {
  const s = ctx.faults.settings;
  if (s.unknown_clients.includes(clientId)) return entraErrors.unknownClient(clientId, ctx.store.tenantId);
  if (atTokenEndpoint && s.public_client_disabled_clients.includes(clientId)) return entraErrors.publicClientFlowsDisabled();
  return undefined;
}

/** `POST /<tenant>/oauth2/v2.0/token`: the device-code grant (short and URN forms) and the refresh-token grant. */
export async function tokenGrant(ctx: IdpContext, origin: string, form: URLSearchParams, now: number): Promise<GrantOutcome> {
  const clientId = form.get('client_id') ?? '';
  if (clientId === '') return fail(entraErrors.missingParameter('client_id'));
  const clientErr = clientError(ctx, clientId, true);
  if (clientErr) return fail(clientErr);
  const grantType = form.get('grant_type') ?? '';
  if (grantType === '') return fail(entraErrors.missingParameter('grant_type'));
  if (DEVICE_CODE_GRANTS.has(grantType)) return deviceCodeGrant(ctx, origin, form, clientId, now);
  if (grantType === 'refresh_token') return refreshTokenGrant(ctx, origin, form, clientId, now);
  return fail(entraErrors.unsupportedGrantType(grantType));
}

async function deviceCodeGrant(ctx: IdpContext, origin: string, form: URLSearchParams, clientId: string, now: number): Promise<GrantOutcome> {
  const deviceCode = form.get('device_code') ?? '';
  if (deviceCode === '') return fail(entraErrors.missingParameter('device_code'));
  const record = ctx.store.deviceCodeBySecret(deviceCode);
  if (record === undefined || record.clientId !== clientId) return fail(entraErrors.badVerificationCode());
  const result = pollDeviceCode(ctx, record, now);
  if (result !== 'redeem') return fail(result, record.id);
  const user = ctx.store.user(record.userId ?? '');
  if (user === undefined) return fail(entraErrors.grantInvalid(), record.id);
  const scope = normalizeScope(form.get('scope') || record.scope);
  if (scopeResources(scope).length > 1) return fail(entraErrors.multipleResources(scope), record.id);
  return { ok: true, body: await issueTokens(ctx, origin, form, clientId, user, scope, now), codeId: record.id };
}

async function refreshTokenGrant(ctx: IdpContext, origin: string, form: URLSearchParams, clientId: string, now: number): Promise<GrantOutcome> {
  const token = form.get('refresh_token') ?? '';
  if (token === '') return fail(entraErrors.missingParameter('refresh_token'));
  const record = ctx.store.refreshTokenBySecret(token);
  if (ctx.faults.takeInvalidGrant()) return fail(entraErrors.invalidGrant(ctx.faults.settings.invalid_grant_aadsts, record?.issuedAt ?? now), record?.id);
  if (record === undefined) return fail(entraErrors.refreshTokenMalformed());
  if (record.clientId !== clientId) return fail(entraErrors.grantInvalid(), record.id);
  if (record.revokedAt !== undefined) return fail(entraErrors.refreshTokenRevoked(), record.id);
  if (now >= record.expiresAt) return fail(entraErrors.refreshTokenExpired(), record.id);
  if (record.usedAt !== undefined && ctx.faults.settings.reject_reused_refresh_tokens) return fail(entraErrors.grantInvalid(), record.id);
  const user = ctx.store.user(record.userId);
  if (user === undefined) return fail(entraErrors.grantInvalid(), record.id);
  // A refresh token of one resource gets access tokens for another, one resource at a time (as Entra's do).
  const scope = normalizeScope(form.get('scope') || record.scope);
  if (scopeResources(scope).length > 1) return fail(entraErrors.multipleResources(scope), record.id);
  // Conditional Access is evaluated on every token issuance; the refresh token itself stays valid.
  const block = ctx.faults.settings.conditional_access;
  if (block !== null) return fail(entraErrors.conditionalAccess(block), record.id);
  record.usedAt ??= now;
  ctx.store.save(now);
  return { ok: true, body: await issueTokens(ctx, origin, form, clientId, user, scope, now), codeId: record.id };
}

/** A successful token response, Entra-shaped; a refresh token only with `offline_access`, an ID token only with `openid`. */
async function issueTokens(
  ctx: IdpContext,
  origin: string,
  form: URLSearchParams,
  clientId: string,
  user: User,
  scope: string,
  now: number,
): Promise<Record<string, unknown>> {
  const s = ctx.faults.settings;
  const scopes = new Set(scope.split(' '));
  const input = { keys: ctx.keys, issuer: issuerFor(ctx, origin), tenantId: ctx.store.tenantId, clientId, user, scope, now };
  const accessToken = await mintAccessToken(input, s.access_token_expires_in);
  const body: Record<string, unknown> = {
    token_type: 'Bearer',
    scope,
    expires_in: s.access_token_expires_in,
    ext_expires_in: s.access_token_expires_in,
    access_token: accessToken,
  };
  ctx.store.recordIssued(accessToken);
  if (scopes.has('offline_access')) {
    const refreshToken = `1.${opaqueSecret(512)}`;
    ctx.store.addRefreshToken({
      id: shortId('rt'),
      hash: hashSecret(refreshToken),
      clientId,
      userId: user.id,
      scope,
      issuedAt: now,
      expiresAt: now + REFRESH_TOKEN_LIFETIME * 1000,
    });
    ctx.store.recordIssued(refreshToken);
    body.refresh_token = refreshToken;
  }
  if (scopes.has('openid')) {
    // `foreign_tenant`: a well-signed token whose `tid` names another tenant than the one that issued it.
    const idInput = s.id_token_fault === 'foreign_tenant' ? { ...input, tenantId: ctx.foreignTenantId } : input;
    const idToken = await mintIdToken(idInput, s.id_token_fault);
    ctx.store.recordIssued(idToken);
    body.id_token = idToken;
  }
  if (form.get('client_info') === '1') body.client_info = clientInfo(user.oid, ctx.store.tenantId);
  return body;
}
