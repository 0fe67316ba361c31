import { randomInt } from 'node:crypto';
import { verificationUriFor } from './context.js';
import type { IdpContext } from './context.js';
import { LOGIN_DOMAIN_REFUSED, entraErrors } from './entra-errors.js';
import type { ConditionalAccessCode, EntraError } from './entra-errors.js';
import { hashSecret, shortId } from './store.js';
import { opaqueSecret } from './tokens.js';
import type { DeviceCodeRecord, User } from './types.js';

/** Upper-case letters and digits without the easily confused ones (0 O, 1 I L, U V). */
const USER_CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTWXYZ23456789';
const USER_CODE_LENGTH = 9;
/** A poll this much early still counts as on time (timer jitter). */
const POLL_TOLERANCE_MS = 200;

export const normalizeUserCode = (s: string): string => s.toUpperCase().replace(/[^A-Z0-9]/g, '');

function newUserCode(ctx: IdpContext): string {
  for (;;) {
    let code = '';
    for (let i = 0; i < USER_CODE_LENGTH; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
    if (ctx.store.deviceCodeByUserCode(code) === undefined) return code;
  }
}

export interface DeviceCodeResponse {
  user_code: string;
  device_code: string;
  verification_uri: string;
  /** Absent in External ID mode: Entra gives none for the global page. */
  verification_uri_complete?: string;
  expires_in: number;
  interval: number;
  message: string;
}

/** Issues a device code (RFC 8628 §3.2) with the lifetime and interval the fault settings say. */
export function issueDeviceCode(ctx: IdpContext, origin: string, clientId: string, scope: string, now: number): { record: DeviceCodeRecord; response: DeviceCodeResponse } {
  const { device_code_expires_in: expiresIn, device_code_interval: interval } = ctx.faults.settings;
  const deviceCode = opaqueSecret(128);
  const userCode = newUserCode(ctx);
  const record: DeviceCodeRecord = {
    id: shortId('dc'),
    hash: hashSecret(deviceCode),
    userCode,
    clientId,
    scope,
    createdAt: now,
    expiresAt: now + expiresIn * 1000,
    interval,
    status: 'pending',
  };
  ctx.store.addDeviceCode(record);
  ctx.store.recordIssued(deviceCode);
  const verificationUri = verificationUriFor(ctx, origin);
  return {
    record,
    response: {
      user_code: userCode,
      device_code: deviceCode,
      verification_uri: verificationUri,
      ...(ctx.externalId ? {} : { verification_uri_complete: `${verificationUri}?user_code=${userCode}` }),
      expires_in: expiresIn,
      interval,
      message: `To sign in, use a web browser to open the page ${verificationUri} and enter the code ${userCode} to authenticate.`,
    },
  };
}

/**
 * One token-endpoint poll for a device code: an error to answer with, or `redeem` (approved: issue tokens).
 * Polling sooner than the code's interval earns `slow_down` and 5 more seconds of interval (RFC 8628 §3.5),
 * unless the `enforce_interval` fault setting is off; `slow_down_next` forces it. An approved code that
 * meets the `conditional_access` fault is blocked for good: each later poll gets the same block until the
 * code expires, whatever the faults say by then (Entra decided at sign-in).
 */
export function pollDeviceCode(ctx: IdpContext, record: DeviceCodeRecord, now: number): EntraError | 'redeem' {
  if (record.status === 'redeemed') return entraErrors.codeRedeemed();
  if (now >= record.expiresAt) return entraErrors.expiredToken();
  if (record.status === 'declined') return entraErrors.declined();
  const last = record.lastPollAt;
  const tooFast = ctx.faults.settings.enforce_interval && last !== undefined && now - last < record.interval * 1000 - POLL_TOLERANCE_MS;
  const slowDown = tooFast || ctx.faults.takeSlowDown();
  record.lastPollAt = now;
  const block = record.status === 'approved' && !slowDown ? (record.blockedBy ?? ctx.faults.settings.conditional_access) : null;
  if (slowDown) record.interval += 5;
  else if (block !== null) record.blockedBy = block;
  else if (record.status === 'approved') record.status = 'redeemed';
  ctx.store.save(now);
  if (slowDown) return entraErrors.slowDown(record.interval);
  if (block !== null) return entraErrors.conditionalAccess(block as ConditionalAccessCode);
  return record.status === 'redeemed' ? 'redeem' : entraErrors.authorizationPending();
}

export type Decision =
  | { ok: true; record: DeviceCodeRecord; user?: User }
  | { ok: false; status: 400 | 403 | 404 | 409; error: string; message: string; record?: DeviceCodeRecord };

/** The sign-in page a person uses: the tenant's own (`/device`, `/common/oauth2/deviceauth`) or the global one. */
export type SignInPage = 'tenant' | 'global';

/**
 * Approves (as `userQuery`, default the first test user) or declines the code a person typed on `page`.
 * In External ID mode the global page refuses every test user (they are the tenant's local accounts)
 * with AADSTS500208 once the code and the account are known, and the code stays pending.
 */
export function decide(
  ctx: IdpContext,
  userCodeInput: string,
  action: 'approve' | 'decline',
  userQuery: string | undefined,
  now: number,
  page: SignInPage = 'tenant',
): Decision {
  const userCode = normalizeUserCode(userCodeInput);
  const record = userCode === '' ? undefined : ctx.store.deviceCodeByUserCode(userCode);
  if (record === undefined) return { ok: false, status: 404, error: 'unknown_user_code', message: `No device code has the user code "${userCodeInput}".` };
  if (now >= record.expiresAt) return { ok: false, status: 409, error: 'expired', message: `The code ${userCode} has expired; ask the device for a new one.` };
  if (record.status !== 'pending') return { ok: false, status: 409, error: 'already_decided', message: `The code ${userCode} was already ${record.status}.` };
  // On the global page one signs in before one can approve or decline, so the account matters either way.
  let user: User | undefined;
  if (action === 'approve' || page === 'global') {
    user = userQuery === undefined || userQuery === '' ? ctx.store.users[0] : ctx.store.user(userQuery);
    if (user === undefined) return { ok: false, status: 400, error: 'unknown_user', message: `No test user "${userQuery}"; use one of ${ctx.store.users.map((u) => u.id).join(', ')}.` };
  }
  if (page === 'global' && ctx.externalId) {
    const { code, message } = LOGIN_DOMAIN_REFUSED;
    return { ok: false, status: 403, error: `AADSTS${code}`, message: `AADSTS${code}: ${message}`, record };
  }
  if (action === 'decline') user = undefined;
  if (user !== undefined) record.userId = user.id;
  record.status = action === 'approve' ? 'approved' : 'declined';
  record.decidedAt = now;
  ctx.store.save(now);
  return { ok: true, record, user };
}

export interface PendingCode {
  user_code: string;
  code_id: string;
  client_id: string;
  scope: string;
  created_at: string;
  expires_at: string;
  interval: number;
  /** The page the device was told to show. */
  verification_uri: string;
  /** Absent in External ID mode, as in the device-code answer. */
  verification_uri_complete?: string;
}

/** Active, undecided codes (never the device code itself). */
export function pendingCodes(ctx: IdpContext, now: number): PendingCode[] {
  const verificationUri = verificationUriFor(ctx, ctx.primaryOrigin());
  return ctx.store.deviceCodes
    .filter((r) => r.status === 'pending' && r.expiresAt > now)
    .map((r) => ({
      user_code: r.userCode,
      code_id: r.id,
      client_id: r.clientId,
      scope: r.scope,
      created_at: new Date(r.createdAt).toISOString(),
      expires_at: new Date(r.expiresAt).toISOString(),
      interval: r.interval,
      verification_uri: verificationUri,
      ...(ctx.externalId ? {} : { verification_uri_complete: `${verificationUri}?user_code=${r.userCode}` }),
    }));
}
