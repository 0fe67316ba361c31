import type { JSONWebKeySet } from 'jose';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Claims } from '../state.js';
import { expectedTenant, IdTokenInvalid, verifyIdToken } from './id-token.js';
import type { IdTokenDeps } from './id-token.js';
import type { MetadataStore } from './metadata-store.js';
import type { ProviderNetworkClient } from './network-client.js';

export type VerifyOptions = { fresh?: boolean } & Pick<IdTokenDeps, 'ignoreTimes' | 'savedKeysOnly'>;

export interface IdentityDeps {
  config: Pick<Config, 'clientId' | 'claims' | 'authority'>;
  /** The provider's discovery document and keys, as saved for a boot without network. */
  metadata: MetadataStore;
  net: Pick<ProviderNetworkClient, 'clockSkewMs' | 'sendGetRequestAsync'>;
  clock: Clock;
}

/**
 * Who an ID token names, checked against the provider this kiosk is configured for: its discovery
 * document's issuer and tenant, and its published keys (saved, or fetched through the network client).
 */
export class IdentityCheck {
  constructor(private readonly d: IdentityDeps) {}

  /** A fresh token is judged by the provider's clock (`clockSkewMs`), a cached one by the kiosk's. */
  verify(idToken: string, o: VerifyOptions): Promise<Claims> {
    const fresh = o.fresh === true;
    return verifyIdToken(idToken, {
      clientId: this.d.config.clientId,
      allowed: this.d.config.claims,
      now: () => this.d.clock.now() - (fresh ? this.d.net.clockSkewMs : 0),
      issuer: async () => this.discovery().issuer,
      tenant: expectedTenant(this.d.config.authority, this.savedIssuer()),
      keys: async (rotated) => this.jwks(rotated, o.savedKeysOnly === true),
      ignoreTimes: o.ignoreTimes,
      savedKeysOnly: o.savedKeysOnly,
    });
  }

  private savedIssuer(): string | undefined {
    try {
      return this.discovery().issuer;
    } catch {
      return undefined;
    }
  }

  private discovery(): { issuer: string; jwks_uri: string } {
    const doc = this.d.metadata.find((url) => url.startsWith(this.d.config.authority) && url.endsWith('/.well-known/openid-configuration')) as
      | { issuer?: unknown; jwks_uri?: unknown }
      | undefined;
    if (typeof doc?.issuer !== 'string' || typeof doc.jwks_uri !== 'string') throw new IdTokenInvalid('no discovery document to check it against');
    return { issuer: doc.issuer, jwks_uri: doc.jwks_uri };
  }

  private async jwks(fresh: boolean, savedOnly: boolean): Promise<JSONWebKeySet> {
    const { jwks_uri } = this.discovery();
    const saved = this.d.metadata.get(jwks_uri) as JSONWebKeySet | undefined;
    if (saved && !fresh) return saved;
    if (savedOnly) throw new Error('no saved signing keys');
    const response = await this.d.net.sendGetRequestAsync<JSONWebKeySet>(jwks_uri);
    if (response.status !== 200 || !Array.isArray(response.body.keys)) throw new IdTokenInvalid(`cannot read the provider's keys (HTTP ${response.status})`);
    return response.body;
  }

}
