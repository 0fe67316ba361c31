import { jsonObject } from '../json.js';

/**
 * The fleet as `kiosk-agent watch` sees it: rows built from retained `state` and `availability`
 * messages, rendered as a table or as JSON lines. Pure functions; the broker side is in watch.ts.
 */
export interface KioskRow {
  readonly device: string;
  readonly availability: string | null;
  /** The parsed CONTRACT §2 state payload; null when none (or cleared). */
  readonly state: Record<string, unknown> | null;
  /** Raw payloads, to tell a change from a repeat. */
  readonly raw: { readonly state?: string; readonly availability?: string };
}

export type Fleet = Map<string, KioskRow>;

/** Applies one message; returns the new row, or undefined when nothing changed. */
export function applyMessage(fleet: Fleet, device: string, kind: 'state' | 'availability', payload: string): KioskRow | undefined {
  const old = fleet.get(device) ?? { device, availability: null, state: null, raw: {} };
  if ((old.raw[kind] ?? '') === payload && fleet.has(device)) return undefined;
  const row: KioskRow =
    kind === 'availability'
      ? { ...old, availability: payload === '' ? null : payload, raw: { ...old.raw, availability: payload } }
      : { ...old, state: parseState(payload), raw: { ...old.raw, state: payload } };
  if (row.availability === null && row.state === null) fleet.delete(device);
  else fleet.set(device, row);
  return row;
}

function parseState(payload: string): Record<string, unknown> | null {
  if (payload === '') return null;
  return jsonObject(payload) ?? { state: '(invalid)' };
}

/** One JSON line for scripts. */
export function jsonLine(row: KioskRow, changed: 'state' | 'availability', receivedAt: number): string {
  return `${JSON.stringify({ device: row.device, changed, availability: row.availability, state: row.state, received_at: new Date(receivedAt).toISOString() })}\n`;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const time = (v: unknown): number | undefined => {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isNaN(t) ? undefined : t;
};

/** Terminal-safe: control characters (escape sequences from a hostile payload) become `?`, long values are cut. */
export function safe(value: string | undefined, max = 32): string {
  if (value === undefined || value === '') return '-';
  // eslint-disable-next-line no-control-regex
  const clean = value.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1_000));
  if (s < 3_600) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h${String(Math.floor((s % 3_600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3_600)}h`;
}

/** What "time left" means in each state: the code's life, the token's life, or the next retry. */
function timeLeft(state: Record<string, unknown>, now: number): string {
  const key = state.state === 'awaiting_sign_in' ? 'expires_at' : state.state === 'signed_in' ? 'token_expires_at' : 'retry_at';
  const at = time(state[key]);
  if (at === undefined) return '-';
  return key === 'retry_at' ? `retry ${duration(at - now)}` : duration(at - now);
}

export const COLUMNS = ['DEVICE', 'AVAILABILITY', 'STATE', 'USER', 'CODE', 'LEFT', 'LAST CHANGE'] as const;

export function rowCells(row: KioskRow, now: number): string[] {
  const s = row.state ?? {};
  const account = typeof s.account === 'object' && s.account !== null ? (s.account as Record<string, unknown>) : {};
  const since = time(s.since);
  return [
    safe(row.device),
    safe(row.availability ?? undefined),
    safe(text(s.state)),
    safe(text(account.name) ?? text(account.username)),
    s.state === 'awaiting_sign_in' ? safe(text(s.user_code)) : '-',
    row.state ? timeLeft(s, now) : '-',
    since === undefined ? '-' : `${duration(now - since)} ago`,
  ];
}

export function renderTable(fleet: Fleet, now: number, header: string): string {
  const rows = [...fleet.values()].sort((a, b) => a.device.localeCompare(b.device)).map((r) => rowCells(r, now));
  const all = [[...COLUMNS], ...rows];
  const widths = COLUMNS.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const lines = all.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
  if (rows.length === 0) lines.push('(no kiosks yet)');
  return `${header}\n\n${lines.join('\n')}\n`;
}
