import { CONDITIONAL_ACCESS_CODES, INVALID_GRANT_CODES } from './entra-errors.js';
import type { ConditionalAccessCode, InvalidGrantCode } from './entra-errors.js';
import { WIRE_ENDPOINTS } from './types.js';
import type { Endpoint, WireEndpoint } from './types.js';

export const ID_TOKEN_FAULTS = ['forged', 'expired', 'wrong_audience', 'foreign_tenant'] as const;
export type IdTokenFault = (typeof ID_TOKEN_FAULTS)[number];

/** Standing fault settings, as `GET /faults` shows them (names are the control API: see README.md). */
export interface FaultSettings {
  fail_next: number;
  fail_status: number;
  fail_endpoints: WireEndpoint[];
  hang_next: number;
  hang_endpoints: WireEndpoint[];
  drop_next: number;
  drop_endpoints: WireEndpoint[];
  delay_ms: number;
  slow_down_next: number;
  enforce_interval: boolean;
  device_code_expires_in: number;
  device_code_interval: number;
  access_token_expires_in: number;
  invalid_grant_next: number;
  invalid_grant_aadsts: InvalidGrantCode;
  reject_reused_refresh_tokens: boolean;
  unknown_clients: string[];
  public_client_disabled_clients: string[];
  id_token_fault: IdTokenFault | null;
  issuer: string | null;
  conditional_access: ConditionalAccessCode | null;
}

/** Keys accepted by `POST /faults` that are actions, not settings. */
export interface FaultActions {
  revoke_refresh_tokens?: boolean;
}

export type WireFault = { kind: 'fail'; status: number } | { kind: 'hang' } | { kind: 'drop' };

type Kind = 'count' | 'seconds' | 'ms' | 'status' | 'bool' | 'endpoints' | 'strings' | 'idtoken' | 'url' | 'grantcode' | 'ca';
const KINDS: Record<keyof FaultSettings, Kind> = {
  fail_next: 'count',
  fail_status: 'status',
  fail_endpoints: 'endpoints',
  hang_next: 'count',
  hang_endpoints: 'endpoints',
  drop_next: 'count',
  drop_endpoints: 'endpoints',
  delay_ms: 'ms',
  slow_down_next: 'count',
  enforce_interval: 'bool',
  device_code_expires_in: 'seconds',
  device_code_interval: 'seconds',
  access_token_expires_in: 'seconds',
  invalid_grant_next: 'count',
  invalid_grant_aadsts: 'grantcode',
  reject_reused_refresh_tokens: 'bool',
  unknown_clients: 'strings',
  public_client_disabled_clients: 'strings',
  id_token_fault: 'idtoken',
  issuer: 'url',
  conditional_access: 'ca',
};

function check(kind: Kind, v: unknown): string | undefined {
  const int = (min: number, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
  switch (kind) {
    case 'count': return int(0, 1e6) ? undefined : 'a whole number from 0';
    case 'seconds': return int(1, 86400 * 365) ? undefined : 'a whole number of seconds from 1';
    case 'ms': return int(0, 600_000) ? undefined : 'milliseconds from 0 to 600000';
    case 'status': return int(500, 599) ? undefined : 'an HTTP status from 500 to 599';
    case 'bool': return typeof v === 'boolean' ? undefined : 'true or false';
    case 'endpoints':
      return Array.isArray(v) && v.every((x) => (WIRE_ENDPOINTS as readonly unknown[]).includes(x))
        ? undefined
        : `a list of ${WIRE_ENDPOINTS.join(', ')} (empty: all of them)`;
    case 'strings': return Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '') ? undefined : 'a list of client ids';
    case 'idtoken': return v === null || (ID_TOKEN_FAULTS as readonly unknown[]).includes(v) ? undefined : `null or one of ${ID_TOKEN_FAULTS.join(', ')}`;
    case 'url': return v === null || (typeof v === 'string' && URL.canParse(v)) ? undefined : 'null or an absolute URL';
    case 'grantcode': return (INVALID_GRANT_CODES as readonly unknown[]).includes(v) ? undefined : `one of the numbers ${INVALID_GRANT_CODES.join(', ')}`;
    case 'ca': return v === null || (CONDITIONAL_ACCESS_CODES as readonly unknown[]).includes(v) ? undefined : `null or one of the numbers ${CONDITIONAL_ACCESS_CODES.join(', ')}`;
  }
}

/** Validates a `POST /faults` body; returns the problems (empty when it is fine). */
export function validateFaults(body: unknown): string[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return ['the body must be a JSON object of fault settings'];
  const problems: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    if (key === 'revoke_refresh_tokens') {
      if (typeof value !== 'boolean') problems.push('revoke_refresh_tokens: must be true or false');
      continue;
    }
    const kind = KINDS[key as keyof FaultSettings] as Kind | undefined;
    if (kind === undefined) problems.push(`${key}: unknown fault; use one of ${[...Object.keys(KINDS), 'revoke_refresh_tokens'].join(', ')}`);
    else {
      const problem = check(kind, value);
      if (problem !== undefined) problems.push(`${key}: must be ${problem}`);
    }
  }
  return problems;
}

export interface FaultDefaults {
  deviceCodeExpiresIn: number;
  deviceCodeInterval: number;
  accessTokenExpiresIn: number;
  /** Fixed delay before every wire answer (`delay_ms`), e.g. a provider across a WAN. */
  delayMs: number;
}

/** The fault settings in force, with the counters that requests use up. */
export class Faults {
  settings: FaultSettings;

  constructor(private readonly defaults: FaultDefaults) {
    this.settings = this.initial();
  }

  private initial(): FaultSettings {
    return {
      fail_next: 0, fail_status: 500, fail_endpoints: [],
      hang_next: 0, hang_endpoints: [],
      drop_next: 0, drop_endpoints: [],
      delay_ms: this.defaults.delayMs, slow_down_next: 0, enforce_interval: true,
      device_code_expires_in: this.defaults.deviceCodeExpiresIn,
      device_code_interval: this.defaults.deviceCodeInterval,
      access_token_expires_in: this.defaults.accessTokenExpiresIn,
      invalid_grant_next: 0, invalid_grant_aadsts: 70008, reject_reused_refresh_tokens: false,
      unknown_clients: [], public_client_disabled_clients: [],
      id_token_fault: null, issuer: null, conditional_access: null,
    };
  }

  /** Merges validated settings (call `validateFaults` first); action keys are ignored here. */
  merge(body: Partial<FaultSettings> & FaultActions): void {
    const { revoke_refresh_tokens: _action, ...settings } = body;
    this.settings = { ...this.settings, ...settings };
  }

  clear(): void {
    this.settings = this.initial();
  }

  /** Uses up the wire fault (drop, then hang, then fail) that applies to a request to `endpoint`, if any. */
  take(endpoint: Endpoint): WireFault | undefined {
    const s = this.settings;
    if (!(WIRE_ENDPOINTS as readonly string[]).includes(endpoint)) return undefined;
    const applies = (list: WireEndpoint[]) => list.length === 0 || list.includes(endpoint as WireEndpoint);
    if (s.drop_next > 0 && applies(s.drop_endpoints)) {
      s.drop_next--;
      return { kind: 'drop' };
    }
    if (s.hang_next > 0 && applies(s.hang_endpoints)) {
      s.hang_next--;
      return { kind: 'hang' };
    }
    if (s.fail_next > 0 && applies(s.fail_endpoints)) {
      s.fail_next--;
      return { kind: 'fail', status: s.fail_status };
    }
    return undefined;
  }

  /** True once per use while `slow_down_next` lasts. */
  takeSlowDown(): boolean {
    if (this.settings.slow_down_next <= 0) return false;
    this.settings.slow_down_next--;
    return true;
  }

  takeInvalidGrant(): boolean {
    if (this.settings.invalid_grant_next <= 0) return false;
    this.settings.invalid_grant_next--;
    return true;
  }
}
