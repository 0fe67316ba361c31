import type { IncomingMessage, ServerResponse } from 'node:http';
import { TENANT_PAGE_PATH } from './context.js';
import type { IdpContext } from './context.js';
import { decide, pendingCodes } from './device-flow.js';
import { validateFaults } from './faults.js';
import type { FaultActions, FaultSettings } from './faults.js';
import { BodyTooLargeError, readBody, sendJson } from './http.js';

type Reply = { status: number; body: unknown };

const ok = (body: unknown): Reply => ({ status: 200, body });
const problem = (status: number, error: string, message: string): Reply => ({ status, body: { error, message } });

/** The control API's routes, for `GET /` and error messages. */
export const CONTROL_ROUTES = [
  'GET /pending',
  'POST /approve {"user_code","user"?,"page"?: "tenant"|"global"}',
  'POST /decline {"user_code"}',
  'GET /faults',
  'POST /faults {...}',
  'DELETE /faults',
  'GET /issued',
  'GET /requests',
  'GET /users',
  'POST /reset',
];

async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req);
  if (text.trim() === '') return {};
  return JSON.parse(text) as unknown;
}

const TENANT_HINT = (ctx: IdpContext): string =>
  `The global page refuses this External ID tenant's own accounts; use "page": "tenant" (${ctx.primaryOrigin()}${TENANT_PAGE_PATH}).`;

/** A refusal on the global page, approved through the control API, shows in `/requests` as the page's would. */
function logRefusal(ctx: IdpContext, codeId: string | undefined, error: string, now: number): void {
  const entry = ctx.log.start('POST', '/approve', 'verify', now);
  entry.status = 403;
  entry.error = error;
  if (codeId !== undefined) entry.code_id = codeId;
  ctx.log.done(entry);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

async function route(ctx: IdpContext, req: IncomingMessage, authority: string): Promise<Reply> {
  const url = new URL(req.url ?? '/', 'http://control.invalid');
  const key = `${req.method ?? 'GET'} ${url.pathname.replace(/\/+$/, '') || '/'}`;
  const now = Date.now();
  switch (key) {
    case 'GET /':
      return ok({ authority, tenant_id: ctx.store.tenantId, routes: CONTROL_ROUTES });
    case 'GET /pending':
      return ok(pendingCodes(ctx, now));
    case 'GET /users':
      return ok(ctx.store.users.map((u) => ({ id: u.id, name: u.name, username: u.username, email: u.email, oid: u.oid })));
    case 'GET /issued':
      return ok({ tokens: ctx.store.issued() });
    case 'GET /requests':
      return ok(ctx.log.list());
    case 'GET /faults':
      return ok(ctx.faults.settings);
    case 'DELETE /faults':
      ctx.faults.clear();
      return ok(ctx.faults.settings);
    case 'POST /reset':
      ctx.faults.clear();
      ctx.log.clear();
      return ok({ reset: true });
    case 'POST /faults': {
      const body = await jsonBody(req);
      const problems = validateFaults(body);
      if (problems.length > 0) return problem(400, 'invalid_faults', problems.join('; '));
      const settings = body as Partial<FaultSettings> & FaultActions;
      ctx.faults.merge(settings);
      const revoked = settings.revoke_refresh_tokens === true ? ctx.store.revokeAllRefreshTokens(now) : undefined;
      return ok(revoked === undefined ? ctx.faults.settings : { ...ctx.faults.settings, revoked_refresh_tokens: revoked });
    }
    case 'POST /approve':
    case 'POST /decline': {
      const body = await jsonBody(req);
      if (!isObject(body) || typeof body.user_code !== 'string' || body.user_code === '')
        return problem(400, 'bad_request', 'the body must be JSON {"user_code": "...", "user"?: "alice"}');
      if (body.user !== undefined && typeof body.user !== 'string') return problem(400, 'bad_request', '"user" must be a string');
      const action = key === 'POST /approve' ? 'approve' : 'decline';
      const page = action === 'approve' ? (body.page ?? 'tenant') : 'tenant';
      if (page !== 'tenant' && page !== 'global') return problem(400, 'bad_request', '"page" must be "tenant" (the default) or "global"');
      const result = decide(ctx, body.user_code, action, body.user as string | undefined, now, page);
      if (!result.ok && result.status === 403) logRefusal(ctx, result.record?.id, result.error, now);
      if (!result.ok) return problem(result.status, result.error, result.status === 403 ? `${result.message} ${TENANT_HINT(ctx)}` : result.message);
      const user = result.user && { id: result.user.id, name: result.user.name, username: result.user.username };
      return ok({ status: result.record.status, user_code: result.record.userCode, code_id: result.record.id, user });
    }
    default:
      return problem(404, 'not_found', `no route ${key}; use one of: ${CONTROL_ROUTES.join(', ')}`);
  }
}

/** The plain-HTTP JSON control API for tests and demo operators (see README.md). */
export function controlHandler(ctx: IdpContext, authority: () => string): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    route(ctx, req, authority())
      .catch((e: unknown): Reply => {
        if (e instanceof SyntaxError) return problem(400, 'bad_request', `the body is not JSON: ${e.message}`);
        if (e instanceof BodyTooLargeError) return problem(413, 'too_large', e.message);
        console.error('idp control: request failed:', e);
        return problem(500, 'internal', e instanceof Error ? e.message : String(e));
      })
      .then((reply) => sendJson(res, reply.status, reply.body), () => res.destroy());
  };
}
