import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import type { SigningKeys } from '../../src/idp/keys.js';
import { clientInfo, mintIdToken } from '../../src/idp/tokens.js';
import { hostileString, invalidUtf8, repeated } from './fuzz.js';

/**
 * An identity provider whose device-code and token endpoints answer whatever a test scripts: Entra's
 * shapes with fields dropped or of the wrong type, other providers' errors, garbage, huge bodies,
 * wrong content types, any status, and connections that hang, stall mid-body or drop. Discovery and
 * the signing keys are served normally, so MSAL gets as far as the fuzzed answers.
 */

/** A field of a well-formed body, dropped or replaced. */
export type FieldEdit = readonly [field: string, edit: { readonly drop: true } | { readonly value: unknown }];

export type BodySpec =
  | { readonly kind: 'discovery'; readonly edits: readonly FieldEdit[] }
  | { readonly kind: 'device-code'; readonly edits: readonly FieldEdit[] }
  | { readonly kind: 'tokens'; readonly edits: readonly FieldEdit[] }
  | { readonly kind: 'error'; readonly error: unknown; readonly description: unknown; readonly codes: unknown }
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  | { readonly kind: 'huge'; readonly bytes: number; readonly json: boolean };

export interface Reply {
  readonly status: number;
  /** null: no Content-Type header at all. */
  readonly contentType: string | null;
  readonly retryAfter?: string;
  readonly body: BodySpec;
  /** `hang`: headers never come; `stall`: headers and half the body, then nothing; `drop`: the socket is destroyed. */
  readonly behaviour: 'answer' | 'hang' | 'stall' | 'drop';
}

export interface Script {
  /** Replaces the discovery document (once served, the script's entry is removed). */
  discovery?: Reply;
  deviceCode?: Reply;
  /** Answers to successive token requests; then `expired_token` (HTTP 400) for ever. */
  token: Reply[];
}

export interface FuzzProvider {
  readonly origin: string;
  readonly tenant: string;
  /** `https://…/<tenant>/` (or http for the in-process network client tests). */
  readonly authority: string;
  readonly deviceCodeUrl: string;
  readonly tokenUrl: string;
  readonly discoveryUrl: string;
  script: Script;
  /** Requests served, by path kind. */
  readonly counts: Record<'discovery' | 'keys' | 'devicecode' | 'token' | 'other', number>;
  close(): Promise<void>;
}

export const CLIENT_ID = '22222222-2222-2222-2222-222222222222';
const USER = { id: 'ada', name: 'Ada Fuzz', username: 'ada@example.test', email: 'ada@example.test', oid: '00000000-0000-4000-8000-0000000000aa' };

export interface ProviderOptions {
  /** PEM certificate and key: HTTPS; without them plain HTTP. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Signs ID tokens in `tokens` bodies; without it they carry a placeholder. */
  readonly keys?: SigningKeys;
}

export async function startFuzzProvider(o: ProviderOptions = {}): Promise<FuzzProvider> {
  const tenant = '11111111-1111-4111-8111-111111111111';
  const counts: FuzzProvider['counts'] = { discovery: 0, keys: 0, devicecode: 0, token: 0, other: 0 };
  let origin = '';
  const issuer = (): string => `${origin}/${tenant}/v2.0`;

  const materialize = async (spec: BodySpec): Promise<Buffer> => {
    switch (spec.kind) {
      case 'discovery':
        return json(edit(discovery(origin, tenant, issuer()), spec.edits));
      case 'device-code':
        return json(edit(deviceCodeBody(origin), spec.edits));
      case 'tokens':
        return json(edit(await tokenBody(o.keys, issuer(), tenant), spec.edits));
      case 'error':
        return json({ error: spec.error, error_description: spec.description, error_codes: spec.codes, timestamp: new Date().toISOString(), trace_id: randomUUID(), correlation_id: randomUUID() });
      case 'json':
        return Buffer.from(JSON.stringify(spec.value) ?? 'null');
      case 'text':
        return Buffer.from(spec.text);
      case 'bytes':
        return Buffer.from(spec.bytes);
      case 'huge':
        return spec.json ? Buffer.from(`{"error":"authorization_pending","pad":"${repeated('x', spec.bytes)}"}`) : Buffer.from(repeated('<p>busy</p>', spec.bytes));
    }
  };

  const send = async (res: ServerResponse, reply: Reply): Promise<void> => {
    if (reply.behaviour === 'hang') return; // closed by close()
    if (reply.behaviour === 'drop') return void res.socket?.destroy();
    const body = await materialize(reply.body);
    const headers: Record<string, string | number> = { 'content-length': body.length };
    if (reply.contentType !== null) headers['content-type'] = reply.contentType;
    if (reply.retryAfter !== undefined) headers['retry-after'] = reply.retryAfter;
    res.writeHead(reply.status, headers);
    if (reply.behaviour === 'stall') return void res.write(body.subarray(0, Math.floor(body.length / 2)));
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    for await (const _ of req); // the request body is not needed
    const path = new URL(req.url ?? '/', origin).pathname;
    if (path === `/${tenant}/v2.0/.well-known/openid-configuration`) {
      counts.discovery += 1;
      const fuzzed = self.script.discovery;
      self.script.discovery = undefined;
      if (fuzzed) return send(res, fuzzed);
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(discovery(origin, tenant, issuer())));
    }
    if (path === `/${tenant}/discovery/v2.0/keys`) {
      counts.keys += 1;
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: o.keys ? [{ ...o.keys.publicJwk, issuer: issuer() }] : [] }));
    }
    if (path === `/${tenant}/oauth2/v2.0/devicecode` && req.method === 'POST') {
      counts.devicecode += 1;
      return send(res, self.script.deviceCode ?? GOOD_DEVICE_CODE);
    }
    if (path === `/${tenant}/oauth2/v2.0/token` && req.method === 'POST') {
      counts.token += 1;
      return send(res, self.script.token.shift() ?? EXPIRED);
    }
    counts.other += 1;
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void =>
    void handle(req, res).catch(() => res.socket?.destroy());
  const server: Server = o.tls ? createHttpsServer({ cert: o.tls.cert, key: o.tls.key }, listener) : createHttpServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin = `${o.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const self: FuzzProvider = {
    origin,
    tenant,
    authority: `${origin}/${tenant}/`,
    deviceCodeUrl: `${origin}/${tenant}/oauth2/v2.0/devicecode`,
    tokenUrl: `${origin}/${tenant}/oauth2/v2.0/token`,
    discoveryUrl: `${origin}/${tenant}/v2.0/.well-known/openid-configuration`,
    script: { token: [] },
    counts,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  return self;
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

function edit(base: Record<string, unknown>, edits: readonly FieldEdit[]): Record<string, unknown> {
  const out = { ...base };
  for (const [field, e] of edits) {
    if ('drop' in e) delete out[field];
    else out[field] = e.value;
  }
  return out;
}

function discovery(origin: string, tenant: string, issuer: string): Record<string, unknown> {
  const base = `${origin}/${tenant}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    jwks_uri: `${base}/discovery/v2.0/keys`,
    issuer,
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
  };
}

/** Interval 0.01 s: the agent's waits between polls stay short in tests. */
export const deviceCodeBody = (origin: string): Record<string, unknown> => {
  const userCode = 'FUZZ-CODE';
  return {
    user_code: userCode,
    device_code: randomBytes(24).toString('base64url'),
    verification_uri: `${origin}/device`,
    verification_uri_complete: `${origin}/device?user_code=${userCode}`,
    expires_in: 900,
    interval: 0.01,
    message: `To sign in, use a web browser to open the page ${origin}/device and enter the code ${userCode} to authenticate.`,
  };
};

async function tokenBody(keys: SigningKeys | undefined, issuer: string, tenant: string): Promise<Record<string, unknown>> {
  const now = Date.now();
  const idToken = keys ? await mintIdToken({ keys, issuer, tenantId: tenant, clientId: CLIENT_ID, user: USER, scope: 'openid profile offline_access', now }, null) : 'e30.e30.';
  return {
    token_type: 'Bearer',
    scope: 'openid profile offline_access',
    expires_in: 3600,
    ext_expires_in: 3600,
    access_token: randomBytes(32).toString('base64url'),
    refresh_token: randomBytes(48).toString('base64url'),
    id_token: idToken,
    client_info: clientInfo(USER.oid, tenant),
  };
}

export const GOOD_DEVICE_CODE: Reply = { status: 200, contentType: 'application/json', body: { kind: 'device-code', edits: [] }, behaviour: 'answer' };
export const GOOD_TOKENS: Reply = { status: 200, contentType: 'application/json', body: { kind: 'tokens', edits: [] }, behaviour: 'answer' };
const EXPIRED: Reply = { status: 400, contentType: 'application/json', body: { kind: 'error', error: 'expired_token', description: 'AADSTS70020: The provided value for the input parameter device_code is expired.', codes: [70020] }, behaviour: 'answer' };

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Values a field can be replaced with: wrong types, empty, huge, numbers JSON can carry that JavaScript dislikes. */
const oddValue: Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1e308, 0.0001, '', ' ', '5', '900', 'NaN', [], {}, ['x'], { a: 1 }),
  fc.integer(),
  fc.double({ noNaN: true }),
  hostileString(),
);

const editsArb = (fields: readonly string[], valueFor: (field: string) => Arbitrary<unknown>, keep: readonly string[] = []): Arbitrary<FieldEdit[]> =>
  fc.array(
    fc.constantFrom(...fields).chain((field) =>
      keep.includes(field)
        ? valueFor(field).map((value): FieldEdit => [field, { value }])
        : fc.oneof(fc.constant<FieldEdit>([field, { drop: true }]), valueFor(field).map((value): FieldEdit => [field, { value }])),
    ),
    { maxLength: 3 },
  );

/**
 * Device-code bodies. With `fastOnly` the interval is never dropped (the default is 5 s) and stays
 * small, so that flows end in milliseconds; the network client cases cover the rest.
 */
export const deviceCodeEditsArb = (o: { fastOnly: boolean }): Arbitrary<FieldEdit[]> =>
  editsArb(['user_code', 'device_code', 'verification_uri', 'verification_uri_complete', 'expires_in', 'interval', 'message'], (field) => {
    if (field === 'interval' && o.fastOnly) return fc.constantFrom(0.001, 0.02, 0.05);
    if (field === 'interval') return fc.oneof(oddValue, fc.constantFrom(1e9, 1e308, 5, 0.5, -5, 0));
    if (field === 'expires_in' && o.fastOnly) return fc.oneof(fc.constantFrom(0.001, 0.05, 1, 900), fc.constantFrom(null, '900', -1, 0, 1e308, [], {}));
    if (field === 'expires_in') return fc.oneof(oddValue, fc.constantFrom(1e9, 1e308, 1, 900));
    return oddValue;
  }, o.fastOnly ? ['interval'] : []);

export const tokenEditsArb: Arbitrary<FieldEdit[]> = editsArb(
  ['token_type', 'scope', 'expires_in', 'ext_expires_in', 'refresh_in', 'access_token', 'refresh_token', 'id_token', 'client_info', 'error', 'error_description', 'error_codes', 'correlation_id', 'trace_id', 'timestamp', 'foci'],
  (field) => {
    if (field === 'id_token') return fc.oneof(oddValue, fc.constantFrom('e30.e30.', 'a.b.c', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', '....'));
    if (field === 'client_info') return fc.oneof(oddValue, fc.constantFrom('e30', Buffer.from('{"uid":5}').toString('base64url'), '!!!', Buffer.from('[]').toString('base64url')));
    return oddValue;
  },
);

/** OAuth and Entra error codes, and some no provider would send. */
const errorCodeArb: Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    'authorization_pending', 'slow_down', 'expired_token', 'access_denied', 'authorization_declined', 'bad_verification_code', 'code_expired',
    'invalid_grant', 'invalid_client', 'unauthorized_client', 'invalid_scope', 'invalid_request', 'invalid_tenant', 'interaction_required',
    'temporarily_unavailable', 'server_error', 'consent_required', 'login_required', 'constructor', '__proto__', 'toString',
  ),
  oddValue,
);
const errorArb = (o: { fastOnly: boolean }): Arbitrary<BodySpec> => fc.record({
  kind: fc.constant('error' as const),
  // slow_down makes the next poll 5 s later: only where nothing waits for it.
  error: o.fastOnly ? errorCodeArb.filter((e) => e !== 'slow_down') : errorCodeArb,
  description: fc.oneof(fc.constantFrom('AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.\r\nTrace ID: x\r\nCorrelation ID: y', 'AADSTS7000218: The request body must contain client_assertion.'), oddValue),
  codes: fc.oneof(fc.constantFrom([70016], [50126, 1], [], ['70016'], null, 'x'), fc.array(fc.integer(), { maxLength: 3 })),
});

const garbageArb: Arbitrary<BodySpec> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((value): BodySpec => ({ kind: 'json', value })),
  fc.constantFrom('null', '[]', '""', '0', 'true', '{', '{"error":', '<html><body>Service Unavailable</body></html>', '', ' ', '\uFEFF{}', '{"error":"slow_down"}garbage', '1e999').map((text): BodySpec => ({ kind: 'text', text })),
  hostileString().map((text): BodySpec => ({ kind: 'text', text })),
  fc.uint8Array({ maxLength: 256 }).map((bytes): BodySpec => ({ kind: 'bytes', bytes })),
  invalidUtf8().map((bytes): BodySpec => ({ kind: 'bytes', bytes })),
);

const hugeArb: Arbitrary<BodySpec> = fc.record({ kind: fc.constant('huge' as const), bytes: fc.constantFrom(70_000, 1_100_000, 3_000_000), json: fc.boolean() });

const statusArb = (usual: number): Arbitrary<number> =>
  fc.oneof({ weight: 6, arbitrary: fc.constant(usual) }, { weight: 3, arbitrary: fc.constantFrom(200, 201, 202, 204, 301, 400, 401, 403, 404, 405, 408, 409, 418, 429, 500, 502, 503, 504) }, { weight: 1, arbitrary: fc.integer({ min: 200, max: 599 }) });

const contentTypeArb: Arbitrary<string | null> = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json; charset=utf-8') },
  { weight: 1, arbitrary: fc.constantFrom('text/html', 'text/plain', 'application/octet-stream', 'application/json; charset=utf-16', 'application/x-www-form-urlencoded', 'garbage/;;;', null) },
);

const retryAfterArb: Arbitrary<string | undefined> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom('0', '1', '120', '-5', '1e308', 'soon', 'Wed, 21 Oct 2015 07:28:00 GMT', 'Fri, 31 Dec 9999 23:59:59 GMT', '', '  7  ') },
);

export interface ReplyOptions {
  /** One reply in this many hangs, stalls or drops (each costs a timeout or a reconnect). */
  readonly faultOdds: number;
  /** Only intervals that keep a flow fast (the end-to-end runs). */
  readonly fastOnly: boolean;
  /** Huge bodies (MiBs) allowed. */
  readonly huge: boolean;
}

/** What the discovery endpoint may answer: the document with fields dropped or replaced, errors, garbage. */
export const discoveryReplyArb = (o: ReplyOptions): Arbitrary<Reply> =>
  replyArb(
    fc.oneof(
      { weight: 6, arbitrary: editsArb(['token_endpoint', 'device_authorization_endpoint', 'authorization_endpoint', 'end_session_endpoint', 'jwks_uri', 'issuer'], () => fc.oneof(oddValue, fc.webUrl())).map((edits): BodySpec => ({ kind: 'discovery', edits })) },
      { weight: 2, arbitrary: errorArb(o) },
      { weight: 2, arbitrary: garbageArb },
    ),
    o,
  );

/** What the device-code endpoint may answer. */
export const deviceCodeReplyArb = (o: ReplyOptions): Arbitrary<Reply> =>
  replyArb(
    fc.oneof(
      { weight: 8, arbitrary: deviceCodeEditsArb(o).map((edits): BodySpec => ({ kind: 'device-code', edits })) },
      { weight: 2, arbitrary: errorArb(o) },
      { weight: 2, arbitrary: garbageArb },
      ...(o.huge ? [{ weight: 1, arbitrary: hugeArb }] : []),
    ),
    o,
  );

/** What the token endpoint may answer: tokens (edited), errors, garbage. */
export const tokenReplyArb = (o: ReplyOptions): Arbitrary<Reply> =>
  replyArb(
    fc.oneof(
      { weight: 5, arbitrary: tokenEditsArb.map((edits): BodySpec => ({ kind: 'tokens', edits })) },
      { weight: 5, arbitrary: errorArb(o) },
      { weight: 2, arbitrary: garbageArb },
      ...(o.huge ? [{ weight: 1, arbitrary: hugeArb }] : []),
    ),
    o,
  );

function replyArb(body: Arbitrary<BodySpec>, o: ReplyOptions): Arbitrary<Reply> {
  const behaviour = fc.oneof(
    { weight: o.faultOdds - 1, arbitrary: fc.constant<Reply['behaviour']>('answer') },
    { weight: 1, arbitrary: fc.constantFrom<Reply['behaviour']>('hang', 'stall', 'drop', 'drop') },
  );
  return fc.record({ body, contentType: contentTypeArb, retryAfter: retryAfterArb, behaviour }).chain((r) =>
    statusArb(r.body.kind === 'error' ? 400 : 200).map((status): Reply => ({ ...r, status })),
  );
}
