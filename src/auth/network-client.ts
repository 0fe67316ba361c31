import { AuthError } from '@azure/msal-node';
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { sleep } from '../clock.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { scrub } from '../log.js';
import type { ProviderFailure } from './provider-errors.js';
import type { MetadataStore } from './metadata-store.js';

/** What the agent learns about a device code that MSAL's callback does not pass on. */
interface CodeTrack {
  verificationUriComplete?: string;
  intervalMs: number;
  lastPollAt: number;
}

export interface NetworkClientDeps {
  timeoutMs: number;
  log: Logger;
  clock: Clock;
  metadata: MetadataStore;
  /** Aborted on shutdown: every request in flight and every wait ends at once. */
  signal: AbortSignal;
}

const DEFAULT_INTERVAL_S = 5;
/** A longer device-code lifetime is taken as a day (RFC 8628 providers use minutes): times stay real dates. */
const MAX_CODE_LIFETIME_S = 86_400;
/** RFC 8628 §3.5: after `slow_down` the interval grows by 5 s for every later poll. */
const SLOW_DOWN_STEP_MS = 5_000;

/**
 * MSAL's HTTP layer, replaced (MSAL-NOTES.md) to give every call a bounded timeout, honour the
 * provider's polling interval and `slow_down`, keep the last good discovery document and keys for a
 * boot without network, keep Entra's error details that MSAL drops, and keep 5xx/429 answers
 * out of MSAL's in-memory throttling (the agent runs its own backoff, honouring `Retry-After`).
 */
export class ProviderNetworkClient implements INetworkModule {
  /** The most recent failure seen on the wire; read by `classify` when MSAL hides the cause. */
  lastFailure: ProviderFailure | undefined;
  private readonly codes = new Map<string, CodeTrack>();

  constructor(private readonly d: NetworkClientDeps) {}

  verificationUriComplete(deviceCode: string): string | undefined {
    return this.codes.get(deviceCode)?.verificationUriComplete;
  }

  forgetCode(deviceCode: string): void {
    this.codes.delete(deviceCode);
  }

  async sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    const saved = this.d.metadata.get(url);
    let response: NetworkResponse<T>;
    try {
      response = await this.send<T>(url, { method: 'GET', headers: options?.headers });
    } catch (e) {
      if (saved === undefined) throw e;
      this.d.log.info({ url: stripQuery(url) }, 'provider unreachable; using the saved copy of its metadata');
      return { headers: {}, body: saved as T, status: 200 };
    }
    if (response.status === 200 && isObject(response.body)) await this.d.metadata.set(url, response.body);
    return response;
  }

  async sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    const form = new URLSearchParams(options?.body ?? '');
    const deviceCode = form.get('grant_type')?.endsWith('device_code') ? form.get('device_code') ?? undefined : undefined;
    const track = deviceCode === undefined ? undefined : this.codes.get(deviceCode);
    if (track) {
      await sleep(track.lastPollAt + track.intervalMs - this.d.clock.now(), this.d.signal);
      track.lastPollAt = this.d.clock.now();
    }
    const response = await this.send<T>(url, { method: 'POST', headers: options?.headers, body: options?.body });
    // JSON `null`, an array or a number: no field of it can be read.
    const body: Record<string, unknown> = isObject(response.body) ? response.body : {};

    if (isDeviceCodeEndpoint(url)) return this.onDeviceCodeResponse(response, body);
    if (!isTokenResponse(response.body)) {
      // MSAL would fail on it with a TypeError (or store it in the cache): a fault of the provider, said so.
      const failure = (this.lastFailure ??= { kind: 'provider', code: 'invalid_token_response', description: 'the provider answered with a malformed token response', status: response.status });
      throw new AuthError(failure.code, failure.description);
    }
    if (track && body.error === 'slow_down') {
      track.intervalMs += SLOW_DOWN_STEP_MS;
      this.d.log.info({ interval_s: track.intervalMs / 1000 }, 'provider asked to slow down; polling less often');
      return { ...response, body: { error: 'authorization_pending' } as T };
    }
    return response;
  }

  private onDeviceCodeResponse<T>(response: NetworkResponse<T>, body: Record<string, unknown>): NetworkResponse<T> {
    // MSAL checks nothing here: without a code, a URL or a lifetime it would show `undefined` and poll for ever.
    const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? Math.min(body.expires_in, MAX_CODE_LIFETIME_S) : undefined;
    if (response.status !== 200 || !isText(body.user_code) || !isText(body.device_code) || !isText(body.verification_uri) || expiresIn === undefined) {
      const failure = (this.lastFailure ??= { kind: 'provider', code: 'invalid_device_code_response', description: 'the provider answered without a usable device code' });
      throw new AuthError(failure.code, failure.description);
    }
    // Never wait past the code's end for the first poll (the display would show a dead code).
    const interval = Math.min(typeof body.interval === 'number' && body.interval > 0 ? body.interval : DEFAULT_INTERVAL_S, expiresIn);
    this.codes.set(body.device_code, {
      verificationUriComplete: isText(body.verification_uri_complete) ? body.verification_uri_complete : undefined,
      intervalMs: interval * 1000,
      lastPollAt: this.d.clock.now(),
    });
    // Without an interval MSAL polls in a busy loop.
    return { ...response, body: { ...body, expires_in: expiresIn, interval } as T };
  }

  private async send<T>(url: string, init: { method: string; headers?: Record<string, string>; body?: string }): Promise<NetworkResponse<T>> {
    this.lastFailure = undefined;
    const signal = AbortSignal.any([this.d.signal, AbortSignal.timeout(this.d.timeoutMs)]);
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { ...init, signal });
      text = await res.text();
    } catch (e) {
      const reason = this.d.signal.aborted ? 'stopping' : describeFetchError(e, this.d.timeoutMs);
      this.lastFailure = { kind: 'network', code: 'provider_unreachable', description: reason };
      this.d.log.warn({ url: stripQuery(url), reason }, 'identity provider unreachable');
      throw new AuthError('provider_unreachable', reason);
    }
    const headers = Object.fromEntries(res.headers.entries());
    const body = parseJson(text);
    if (res.status >= 500 || res.status === 429) {
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), this.d.clock.now());
      this.lastFailure = { kind: 'unavailable', code: `http_${res.status}`, description: `the provider answered HTTP ${res.status}`, retryAfterMs };
      this.d.log.warn({ url: stripQuery(url), status: res.status, retry_after_ms: retryAfterMs }, 'identity provider unavailable');
      throw new AuthError(`http_${res.status}`, `the provider answered HTTP ${res.status}`);
    }
    if (res.status >= 400) this.noteProviderError(url, res.status, body);
    return { headers, body: body as T, status: res.status };
  }

  private noteProviderError(url: string, status: number, body: unknown): void {
    const b = isObject(body) ? body : {};
    const error = typeof b.error === 'string' && OAUTH_ERROR.test(b.error) ? b.error : `http_${status}`;
    if (error === 'authorization_pending' || error === 'slow_down') return;
    const aadsts = Array.isArray(b.error_codes) && typeof b.error_codes[0] === 'number' ? `AADSTS${b.error_codes[0]}` : undefined;
    const description = typeof b.error_description === 'string' ? scrub(b.error_description.split(/\r?\n/)[0] ?? '') : `HTTP ${status}`;
    this.lastFailure = { kind: 'provider', code: error, aadsts, description, status };
    this.d.log.info({ url: stripQuery(url), status, error, aadsts }, 'identity provider refused a request');
  }
}

const isDeviceCodeEndpoint = (url: string): boolean => new URL(url).pathname.endsWith('/devicecode');
const stripQuery = (url: string): string => url.split('?')[0] ?? url;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';

/** RFC 6749 §5.2: an error code is printable ASCII without `"` or `\`. */
const OAUTH_ERROR = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,256}$/;
/** Token-response fields MSAL calls string methods on (or writes to the cache as strings), and the ones it adds up. */
const TOKEN_STRINGS = ['error_description', 'suberror', 'access_token', 'id_token', 'refresh_token', 'client_info', 'token_type', 'scope', 'foci'];
const TOKEN_NUMBERS = ['expires_in', 'ext_expires_in', 'refresh_in', 'refresh_token_expires_in'];
const isSeconds = (v: unknown): boolean => (typeof v === 'number' && Number.isFinite(v) && v >= 0) || (typeof v === 'string' && /^\d{1,12}$/.test(v));

/** A token endpoint's JSON (success or error) with the types MSAL relies on; non-JSON text reads as `{}`. */
function isTokenResponse(v: unknown): boolean {
  return (
    isObject(v) &&
    (v.error === undefined || (typeof v.error === 'string' && OAUTH_ERROR.test(v.error))) &&
    TOKEN_STRINGS.every((k) => v[k] === undefined || typeof v[k] === 'string') &&
    TOKEN_NUMBERS.every((k) => v[k] === undefined || isSeconds(v[k]))
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function describeFetchError(e: unknown, timeoutMs: number): string {
  if (e instanceof DOMException && e.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
}
