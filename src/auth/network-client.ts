import { AsyncLocalStorage } from 'node:async_hooks';
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { sleep } from '../clock.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { scrub } from '../scrub.js';
import { MAX_ANSWER_BYTES, newProviderAgents, sameDeviceCodeRequest } from './early-provider.js';
import type { EarlyDeviceCode, EarlyProvider } from './early-provider.js';
import { AnswerTooLargeError, HttpTimeoutError, httpsRequest } from './https-request.js';
import type { HttpAnswer } from './https-request.js';
import type { ProviderFailure } from './provider-errors.js';
import { key } from './metadata-store.js';
import type { MetadataStore } from './metadata-store.js';
import { isObject } from '../json.js';
import { isTokenResponse, OAUTH_ERROR, usableCode } from './provider-answers.js';
import type { UsableCode } from './provider-answers.js';
import { loadMsal } from './msal.js';

/** What the agent learns about a device code that MSAL's callback does not pass on. */
interface CodeTrack {
  verificationUriComplete?: string;
  intervalMs: number;
  /** When the last poll, or the code itself, was answered. */
  lastPollAt: number;
}

export interface NetworkClientDeps {
  timeoutMs: number;
  /** A code is shown for at most this long, when shorter than the provider's lifetime (KIOSK_CODE_LIFETIME). */
  codeLifetimeMs?: number;
  log: Logger;
  clock: Clock;
  metadata: MetadataStore;
  /** Aborted on shutdown: every request in flight and every wait ends at once, pooled connections close. */
  signal: AbortSignal;
  /** The pools and requests `kiosk-agent run` began before MSAL loaded (`startProviderEarly`). */
  early?: Pick<EarlyProvider, 'agents' | 'requests' | 'deviceCode'>;
}

/** RFC 8628 §3.5: after `slow_down` the interval grows by 5 s for every later poll. */
const SLOW_DOWN_STEP_MS = 5_000;
/** A skew past the ID-token tolerance is worth a line in the log (`Date` has whole seconds: less is noise). */
const CLOCK_SKEW_WARN_MS = 120_000;

/**
 * MSAL's HTTP layer, replaced (docs/MSAL-NODE.md) to give every call a bounded timeout and size, honour the
 * provider's polling interval and `slow_down`, keep the last good discovery document and keys for a
 * boot without network, keep Entra's error details that MSAL drops, and keep 5xx/429 answers
 * out of MSAL's in-memory throttling (the agent runs its own backoff, honouring `Retry-After`).
 */
export class ProviderNetworkClient implements INetworkModule {
  /** Failures of the calls made inside `ownFailures`, each call its own record. */
  private readonly calls = new AsyncLocalStorage<{ failure?: ProviderFailure }>();
  private sharedFailure: ProviderFailure | undefined;
  /**
   * The kiosk's clock minus the provider's, from the last answer's `Date` header (0 until one came):
   * a fresh ID token is judged by the provider's time, as a Pi's clock may be hours off before NTP.
   */
  clockSkewMs = 0;
  private readonly codes = new Map<string, CodeTrack>();
  /** The early device code once shown (`earlyDeviceCode`), until MSAL's own request takes it or the attempt ends. */
  private earlyCode?: EarlyDeviceCode;
  /** Only the first attempt may show the early code. */
  private earlyTaken = false;
  /** Per client, never global: several agents share one process (fleet benchmark), each closes its own. Plain http only for test providers. */
  private readonly agents;

  constructor(private readonly d: NetworkClientDeps) {
    this.agents = d.early?.agents ?? newProviderAgents();
    d.signal.addEventListener('abort', () => Object.values(this.agents).forEach((a) => a.destroy()), { once: true });
  }

  /** The most recent failure seen on the wire (of this call, inside `ownFailures`); read by `classify` when MSAL hides the cause. */
  get lastFailure(): ProviderFailure | undefined {
    const own = this.calls.getStore();
    return own ? own.failure : this.sharedFailure;
  }

  set lastFailure(failure: ProviderFailure | undefined) {
    const own = this.calls.getStore();
    if (own) own.failure = failure;
    else this.sharedFailure = failure;
  }

  /**
   * Runs `call` with a failure record of its own: a kiosk app's token request that overlaps the
   * lifecycle's refresh never reads the other's failure, nor overwrites it.
   */
  ownFailures<T>(call: () => Promise<T>): Promise<T> {
    return this.calls.run({}, call);
  }

  verificationUriComplete(deviceCode: string): string | undefined {
    return this.codes.get(deviceCode)?.verificationUriComplete;
  }

  forgetCode(deviceCode: string): void {
    this.codes.delete(deviceCode);
  }

  async sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    // A reboot skips the discovery round trip while the saved document is fresh; MSAL still checks it.
    const fresh = this.d.metadata.freshDiscovery(url);
    if (fresh !== undefined) {
      this.d.log.debug({ url: stripQuery(url) }, 'using the saved discovery document');
      return { headers: {}, body: fresh as T, status: 200 };
    }
    const saved = this.d.metadata.get(url);
    // The same GET begun at process start, while MSAL loaded: its answer (or failure) stands for this one.
    const early = this.d.early?.requests.get(key(url));
    this.d.early?.requests.delete(key(url));
    let response: NetworkResponse<T>;
    try {
      response = await this.send<T>(url, { method: 'GET', headers: options?.headers }, early);
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
      await sleep(this.d.clock, track.lastPollAt + track.intervalMs - this.d.clock.now(), this.d.signal);
    }
    const early = isDeviceCodeEndpoint(url) ? this.takeEarlyCode(url, options?.body ?? '') : undefined;
    let response: NetworkResponse<T>;
    try {
      response = await this.send<T>(url, { method: 'POST', headers: options?.headers, body: options?.body }, early);
    } finally {
      // Timed from the answer, not the request: a poll slow to arrive never lets the next one arrive early.
      if (track) track.lastPollAt = this.d.clock.now();
    }
    // JSON `null`, an array or a number: no field of it can be read.
    const body: Record<string, unknown> = isObject(response.body) ? response.body : {};

    if (isDeviceCodeEndpoint(url)) return await this.onDeviceCodeResponse(response, body);
    if (!isTokenResponse(response.body)) {
      // MSAL would fail on it with a TypeError (or store it in the cache): a fault of the provider, said so.
      const failure = (this.lastFailure ??= { kind: 'provider', code: 'invalid_token_response', description: 'the provider answered with a malformed token response', status: response.status });
      throw await authError(failure.code, failure.description);
    }
    if (track && body.error === 'slow_down') {
      track.intervalMs += SLOW_DOWN_STEP_MS;
      this.d.log.info({ interval_s: track.intervalMs / 1000 }, 'provider asked to slow down; polling less often');
      return { ...response, body: { error: 'authorization_pending' } as T };
    }
    return response;
  }

  private async onDeviceCodeResponse<T>(response: NetworkResponse<T>, body: Record<string, unknown>): Promise<NetworkResponse<T>> {
    const code = response.status === 200 ? usableCode(body, this.d.codeLifetimeMs) : undefined;
    if (code === undefined) {
      const failure = (this.lastFailure ??= { kind: 'provider', code: 'invalid_device_code_response', description: 'the provider answered without a usable device code' });
      throw await authError(failure.code, failure.description);
    }
    this.codes.set(code.deviceCode, {
      verificationUriComplete: code.verificationUriComplete,
      intervalMs: code.interval * 1000,
      lastPollAt: this.d.clock.now(),
    });
    // Without an interval MSAL polls in a busy loop.
    return { ...response, body: { ...body, expires_in: code.expiresIn, interval: code.interval } as T };
  }

  /**
   * The device code requested at process start (`startProviderEarly`), once its answer is in: shown
   * before MSAL has loaded, which then takes over the same answer to poll. Undefined when none was
   * requested or its answer is no usable code (MSAL then asks again, and reports what fails).
   */
  async earlyDeviceCode(): Promise<UsableCode | undefined> {
    const early = await this.d.early?.deviceCode;
    if (early === undefined || this.earlyTaken) return undefined;
    this.earlyTaken = true;
    const body = parseJson(early.answer.text);
    const code = early.answer.status === 200 && isObject(body) ? usableCode(body, this.d.codeLifetimeMs) : undefined;
    if (code === undefined) return undefined;
    this.earlyCode = early;
    // Kept now, as MSAL's own GET would keep it: MSAL, once loaded, is served this copy.
    if (early.discovery) void this.d.metadata.set(early.discovery.url, early.discovery.document);
    return code;
  }

  /** The attempt that showed the early code has ended: a later one never polls that code. */
  dropEarlyCode(): void {
    this.earlyCode = undefined;
  }

  private takeEarlyCode(url: string, body: string): Promise<HttpAnswer> | undefined {
    const early = this.earlyCode;
    this.earlyCode = undefined;
    if (early === undefined) return undefined;
    if (sameDeviceCodeRequest(early, url, body)) return Promise.resolve(early.answer);
    this.d.log.info('the device code asked for at start is not the one MSAL asks for; a fresh code replaces it');
    return undefined;
  }

  /** `early`: the same request, already sent at process start. */
  private async send<T>(url: string, init: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string }, early?: Promise<HttpAnswer>): Promise<NetworkResponse<T>> {
    this.lastFailure = undefined;
    let res: HttpAnswer;
    try {
      const agent = new URL(url).protocol === 'http:' ? this.agents.http : this.agents.https;
      res = await (early ?? httpsRequest(url, { ...init, agent, timeoutMs: this.d.timeoutMs, maxBytes: MAX_ANSWER_BYTES, signal: this.d.signal }));
    } catch (e) {
      // An unavailable provider has said all it needs in its status and Retry-After, whatever its body.
      if (!(e instanceof AnswerTooLargeError && isUnavailable(e.answer.status))) throw await this.unreachable(url, e);
      res = e.answer;
    }
    this.noteProviderClock(res.headers.date);
    const body = parseJson(res.text);
    if (isUnavailable(res.status)) {
      const retryAfterMs = parseRetryAfter(res.headers['retry-after'], this.d.clock.now());
      this.lastFailure = { kind: 'unavailable', code: `http_${res.status}`, description: `the provider answered HTTP ${res.status}`, retryAfterMs };
      this.d.log.warn({ url: stripQuery(url), status: res.status, retry_after_ms: retryAfterMs }, 'identity provider unavailable');
      throw await authError(`http_${res.status}`, `the provider answered HTTP ${res.status}`);
    }
    if (res.status >= 400) this.noteProviderError(url, res.status, body);
    return { headers: res.headers, body: body as T, status: res.status };
  }

  private noteProviderClock(date: string | undefined): void {
    const at = date === undefined ? Number.NaN : Date.parse(date);
    if (Number.isNaN(at)) return;
    const skew = this.d.clock.now() - at;
    const wasOff = Math.abs(this.clockSkewMs) > CLOCK_SKEW_WARN_MS;
    if (Math.abs(skew) > CLOCK_SKEW_WARN_MS && !wasOff)
      this.d.log.warn({ skew_s: Math.round(skew / 1000) }, "the device clock differs from the identity provider's; check NTP");
    this.clockSkewMs = skew;
  }

  private unreachable(url: string, e: unknown): Promise<Error> {
    const stopping = this.d.signal.aborted;
    const reason = stopping ? 'stopping' : describeWireError(e, this.d.timeoutMs);
    this.lastFailure = { kind: 'network', code: 'provider_unreachable', description: reason };
    // A request ended by shutdown says nothing about the provider.
    if (!stopping) this.d.log.warn({ url: stripQuery(url), reason }, 'identity provider unreachable');
    return authError('provider_unreachable', reason);
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

/** MSAL's own error type, which it passes on unchanged; MSAL is loaded by the time it calls the client. */
const authError = async (code: string, description: string): Promise<Error> => new (await loadMsal()).AuthError(code, description);

const isUnavailable = (status: number): boolean => status >= 500 || status === 429;
const isDeviceCodeEndpoint = (url: string): boolean => new URL(url).pathname.endsWith('/devicecode');
const stripQuery = (url: string): string => url.split('?')[0] ?? url;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The error code alone (`ECONNREFUSED`, `CERT_HAS_EXPIRED`): `classify` reads TLS faults from it. */
function describeWireError(e: unknown, timeoutMs: number): string {
  if (e instanceof HttpTimeoutError) return `no answer within ${timeoutMs / 1000} s`;
  if (e instanceof AnswerTooLargeError) return `answer larger than ${MAX_ANSWER_BYTES / 2 ** 20} MiB`;
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : e instanceof Error ? e.message : String(e);
}
