import type { AgentEvent, Claims, Snapshot } from '../state.js';

/**
 * The one place where the agent's camelCase, epoch-millisecond model becomes CONTRACT §2's wire
 * format: snake_case keys and ISO-8601 UTC times. Only the keys listed in CONTRACT §2 leave here.
 */
export interface AgentInfo {
  readonly version: string;
  readonly deviceId: string;
  /** KIOSK_DEVICE_NAME (the device id when unset) and KIOSK_LOCATION: who the person approving a code sees. */
  readonly name?: string;
  readonly location?: string;
}

export interface StatePayload {
  state: string;
  since: string;
  detail?: string;
  user_code?: string;
  verification_uri?: string;
  expires_at?: string;
  account?: { username: string; name?: string };
  token_expires_at?: string;
  next_refresh_at?: string;
  retry_at?: string;
  error?: { code: string; message: string };
  agent: { version: string; device_id: string; name?: string; location?: string };
}

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
}

/** What a command produced, before it is addressed to a request. */
export type CommandOutcome = { readonly status: 'ok'; readonly data?: unknown } | { readonly status: 'error'; readonly error: ErrorBody };

export interface ResponsePayload {
  status: 'ok' | 'error';
  transaction?: string | number;
  error?: ErrorBody;
  data?: unknown;
}

/** ISO-8601 UTC, or undefined for a missing or impossible time. */
export function iso(ms: number | undefined): string | undefined {
  return ms === undefined || !Number.isFinite(ms) ? undefined : new Date(ms).toISOString();
}

export function statePayload(s: Snapshot, agent: AgentInfo): StatePayload {
  return dropUndefined({
    state: s.state,
    since: iso(s.since) ?? new Date(0).toISOString(),
    detail: s.detail,
    user_code: s.userCode,
    verification_uri: s.verificationUri,
    expires_at: iso(s.expiresAt),
    account: s.account && dropUndefined({ username: s.account.username, name: s.account.name }),
    token_expires_at: iso(s.tokenExpiresAt),
    next_refresh_at: iso(s.nextRefreshAt),
    retry_at: iso(s.retryAt),
    error: s.error && { code: s.error.code, message: s.error.message },
    agent: dropUndefined({ version: agent.version, device_id: agent.deviceId, name: agent.name, location: agent.location }),
  });
}

/**
 * Event fields that may travel with an event (CONTRACT §2 `{"event","at",…}`); anything else a
 * caller attaches stays inside the agent. Numbers in `*_at` fields are times.
 */
const EVENT_FIELDS = new Set(['reason', 'user_code', 'expires_at', 'username', 'retry_at', 'resource']);

export function eventPayload(e: AgentEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { event: e.event, at: iso(e.at) };
  for (const [key, value] of Object.entries(e)) {
    if (!EVENT_FIELDS.has(key)) continue;
    if (key.endsWith('_at') && typeof value === 'number') out[key] = iso(value);
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[key] = value;
  }
  return out;
}

/** Retained claims; the empty string (a zero-length retained message) clears them. */
export function claimsPayload(claims: Claims | undefined): string {
  return claims === undefined || Object.keys(claims).length === 0 ? '' : JSON.stringify(claims);
}

export function responsePayload(outcome: CommandOutcome, transaction: string | number | undefined): ResponsePayload {
  return outcome.status === 'ok'
    ? dropUndefined({ status: 'ok', transaction, data: outcome.data })
    : dropUndefined({ status: 'error', transaction, error: outcome.error });
}

export const fail = (code: string, message: string): CommandOutcome => ({ status: 'error', error: { code, message } });

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
