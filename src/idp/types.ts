/** Shared shapes of the local identity provider. */

export const ENDPOINTS = ['metadata', 'devicecode', 'token', 'keys', 'verify', 'other'] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

/** The endpoints MSAL talks to; wire faults (fail, hang, drop, delay) apply only to these. */
export const WIRE_ENDPOINTS = ['metadata', 'devicecode', 'token', 'keys'] as const;
export type WireEndpoint = (typeof WIRE_ENDPOINTS)[number];

export interface User {
  /** Short handle used by the control API and the verification page, e.g. `alice`. */
  readonly id: string;
  readonly name: string;
  readonly username: string;
  readonly email: string;
  /** Object id (GUID), stable for one data dir. */
  readonly oid: string;
}

export type DeviceCodeStatus = 'pending' | 'approved' | 'declined' | 'redeemed';

export interface DeviceCodeRecord {
  /** Stable short id (never the secret), shown in `/requests` and `/pending`. */
  readonly id: string;
  /** SHA-256 (hex) of the device code. */
  readonly hash: string;
  readonly userCode: string;
  readonly clientId: string;
  readonly scope: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** Seconds the client must wait between polls; grows by 5 after each `slow_down` (RFC 8628). */
  interval: number;
  lastPollAt?: number;
  status: DeviceCodeStatus;
  userId?: string;
  decidedAt?: number;
  /** AADSTS code of the Conditional Access block this approved code met: Entra decided, it never redeems. */
  blockedBy?: number;
}

export interface RefreshTokenRecord {
  readonly id: string;
  readonly hash: string;
  readonly clientId: string;
  readonly userId: string;
  readonly scope: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  usedAt?: number;
  revokedAt?: number;
}

export interface RequestEntry {
  /** Arrival time, epoch ms. */
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly endpoint: Endpoint;
  grant_type?: string;
  client_id?: string;
  code_id?: string;
  /** HTTP status sent; 0 when no response was sent (hang or drop fault). */
  status: number;
  error?: string;
  /** The wire fault applied to this request, if any. */
  fault?: 'fail' | 'hang' | 'drop';
}

export interface IdpOptions {
  /** Address the HTTPS endpoints bind (default 127.0.0.1). */
  host?: string;
  /** HTTPS port (default 0: any free port). */
  port?: number;
  /** Address of the plain-HTTP control API (default 127.0.0.1). */
  controlHost?: string;
  /** Control API port (default 0: any free port). */
  controlPort?: number;
  /** Data dir: CA, server certificate, signing key, tenant id, users, device codes, refresh tokens. */
  dir: string;
  /** Extra DNS names (or IPs) for the server certificate and the advertised authority (the first one wins). */
  hostnames?: string[];
  /** Tenant id (GUID); default: the one persisted in `dir`, else a new random one. */
  tenantId?: string;
  /** Other names accepted in place of the tenant id in paths, e.g. `contoso.onmicrosoft.com`. */
  tenantAliases?: string[];
  /** Advertised verification URI, e.g. when the provider runs in a container (default `https://HOST:PORT/device`). */
  verificationUri?: string;
  /**
   * The name or address people's phones reach the provider by (e.g. the machine's LAN address): the
   * certificate names it and, unless `verificationUri` is given, the verification page is advertised
   * there, so the QR works from a phone. The authority the agent uses is unchanged.
   */
  publicHost?: string;
  /**
   * Behave as Entra External ID does: the device-code answer names the global sign-in page
   * (`globalVerificationUri`), which refuses the tenant's own accounts (AADSTS500208), while
   * `/common/oauth2/deviceauth` on the provider's origin accepts them.
   */
  externalId?: boolean;
  /** External ID mode only: the global page named in device-code answers (default `https://microsoft.com/devicelogin`). */
  globalVerificationUri?: string;
  /** Defaults restored by `DELETE /faults` (seconds). */
  deviceCodeExpiresIn?: number;
  deviceCodeInterval?: number;
  accessTokenExpiresIn?: number;
  /** Milliseconds before every wire answer (the `delay_ms` fault from the start; default 0). */
  delayMs?: number;
  /** Called after each HTTPS request has been answered (or hung or dropped). */
  onRequest?: (entry: Readonly<RequestEntry>) => void;
}

export interface Idp {
  /** `https://HOST:PORT/<tenant-id>/` (no `:443` on port 443) */
  readonly authority: string;
  readonly tenantId: string;
  /** PEM file of the generated CA: give it to clients with NODE_EXTRA_CA_CERTS. */
  readonly caFile: string;
  /** The page the device-code answer names (in External ID mode the global one). */
  readonly verificationUri: string;
  /** The tenant's own sign-in page, `https://HOST[:PORT]/common/oauth2/deviceauth` (External ID's accepting page). */
  readonly tenantVerificationUri: string;
  readonly externalId: boolean;
  /** Base URL of the control API, with trailing slash. */
  readonly controlUrl: string;
  readonly port: number;
  readonly controlPort: number;
  close(): Promise<void>;
}
