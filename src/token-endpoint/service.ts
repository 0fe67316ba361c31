import { scopesFor } from '../resources.js';
import type { Claims, Snapshot } from '../state.js';
import type { Route } from './checks.js';

/** What the sign-in gives the endpoint: an access token for some scopes, or why not (`Auth.accessToken`). */
export type AccessTokenAnswer =
  | { kind: 'ok'; accessToken: string; expiresAt: number }
  | { kind: 'network'; code: string; retryAfterMs?: number }
  | { kind: 'refused'; code: string; message: string };

export interface AccessTokenSource {
  accessToken(scopes: readonly string[]): Promise<AccessTokenAnswer>;
}

export interface ServiceDeps {
  readonly source: AccessTokenSource;
  /** KIOSK_SCOPES: a resource's own scopes there are asked for, else `<resource>/.default`. */
  readonly scopes: readonly string[];
  readonly clientId: string;
  readonly machine: { readonly snapshot: Snapshot; readonly claims: Claims | undefined };
  /** One call per token handed out: the `token_issued` event. */
  readonly onIssued: (resource: string) => void;
  readonly now: () => number;
}

export interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Retry-After while nobody is signed in and no retry time is known: a person may be signing in now. */
const NOT_SIGNED_IN_RETRY_S = 5;
const MAX_RETRY_AFTER_S = 300;

/**
 * CONTRACT §8 behind the request checks: tokens only while `signed_in` (a verified sign-in), through the
 * sign-in's silent acquisition, one acquisition per resource at a time however many apps ask at once.
 */
export class TokenService {
  private readonly inFlight = new Map<string, Promise<AccessTokenAnswer>>();

  constructor(private readonly d: ServiceDeps) {}

  async answer(route: Route): Promise<Answer> {
    if (route.route === 'identity') return { status: 200, body: this.identity() };
    const before = this.notSignedIn();
    if (before) return before;
    const got = await this.acquire(route.resource);
    // An operator's sign-out may have come while the token was fetched: it is no longer this kiosk's to give.
    const after = this.notSignedIn();
    if (after) return after;
    switch (got.kind) {
      case 'ok':
        this.d.onIssued(route.resource);
        return {
          status: 200,
          body: {
            access_token: got.accessToken,
            expires_on: String(Math.floor(got.expiresAt / 1000)),
            resource: route.requested,
            token_type: 'Bearer',
            client_id: this.d.clientId,
          },
        };
      case 'network':
        return unavailable('temporarily_unavailable', `the identity provider cannot be reached (${got.code}); retry later`, retrySeconds(got.retryAfterMs));
      case 'refused':
        return { status: 502, body: { error: got.code, error_description: `the identity provider gave no token for this resource: ${got.message}` } };
    }
  }

  /** Concurrent requests for one resource share one acquisition; MSAL refreshes the token when it is due. */
  private acquire(resource: string): Promise<AccessTokenAnswer> {
    const running = this.inFlight.get(resource);
    if (running) return running;
    const started = this.d.source.accessToken(scopesFor(resource, this.d.scopes)).finally(() => {
      if (this.inFlight.get(resource) === started) this.inFlight.delete(resource);
    });
    this.inFlight.set(resource, started);
    return started;
  }

  private notSignedIn(): Answer | undefined {
    const s = this.d.machine.snapshot;
    if (s.state === 'signed_in') return undefined;
    const retryMs = s.retryAt === undefined ? undefined : s.retryAt - this.d.now();
    return unavailable('not_signed_in', `the kiosk is ${s.state.replaceAll('_', ' ')}, not signed in; retry later`, retrySeconds(retryMs, NOT_SIGNED_IN_RETRY_S));
  }

  /** `{"state","account","claims"}`: the verified account and its allowed claims, only while signed in. */
  private identity(): Record<string, unknown> {
    const s = this.d.machine.snapshot;
    const signedIn = s.state === 'signed_in' && s.account !== undefined;
    return {
      state: s.state,
      account: signedIn ? s.account : null,
      claims: signedIn ? (this.d.machine.claims ?? {}) : null,
    };
  }
}

function retrySeconds(ms: number | undefined, fallback = NOT_SIGNED_IN_RETRY_S): number {
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) return fallback;
  return Math.min(MAX_RETRY_AFTER_S, Math.max(1, Math.ceil(ms / 1000)));
}

const unavailable = (error: string, description: string, retryAfter: number): Answer => ({
  status: 503,
  body: { error, error_description: description },
  headers: { 'Retry-After': String(retryAfter) },
});
