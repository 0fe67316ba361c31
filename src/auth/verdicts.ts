import type { Logger } from '../log.js';
import type { Claims } from '../state.js';
import { IdTokenInvalid } from './id-token.js';
import type { IdentityCheck, VerifyOptions } from './identity.js';
import type { ProviderNetworkClient } from './network-client.js';
import { classify, KEYS_UNREACHABLE } from './provider-errors.js';
import type { Outcome } from './provider-errors.js';

/** An ID token's check: its verified claims, why it is not valid, or what kept it from being checked. */
export type Checked = { claims: Claims } | { invalid: IdTokenInvalid } | { outcome: Outcome };

/** What a provider error, or an ID token's check, means for a sign-in: the Outcome the lifecycle acts on. */
export class Verdicts {
  constructor(private readonly d: { identity: IdentityCheck; net: Pick<ProviderNetworkClient, 'lastFailure'>; log: Logger }) {}

  async check(idToken: string, o: VerifyOptions): Promise<Checked> {
    try {
      return { claims: await this.d.identity.verify(idToken, o) };
    } catch (e) {
      return e instanceof IdTokenInvalid ? { invalid: e } : { outcome: this.unverified(e) };
    }
  }

  /** An MSAL or network error, with the wire record of the request that failed last. */
  failed(e: unknown): Outcome {
    const outcome = classify(e, this.d.net.lastFailure);
    if (outcome.kind === 'fatal') this.d.log.warn({ code: outcome.fault.code }, 'sign-in fault');
    return outcome;
  }

  /** The ID token could not be checked (its keys unreachable): the tokens stay cached, nothing is shown. */
  private unverified(e: unknown): Outcome {
    const outcome = this.failed(e);
    if (outcome.kind !== 'network') return outcome;
    this.d.log.info({ cause: outcome.code }, "the provider's signing keys cannot be fetched; the sign-in waits to be verified");
    return { kind: 'network', code: KEYS_UNREACHABLE, retryAfterMs: outcome.retryAfterMs };
  }
}
