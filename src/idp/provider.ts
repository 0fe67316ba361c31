import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { TENANT_PAGE_PATH, isOwnTenant, requestOrigin } from './context.js';
import type { IdpContext } from './context.js';
import { issueDeviceCode } from './device-flow.js';
import { entraErrorBody, entraErrors } from './entra-errors.js';
import type { EntraError } from './entra-errors.js';
import { clientError, tokenGrant } from './grants.js';
import { BodyTooLargeError, readBody, redirect, sendHtml, sendJson } from './http.js';
import { jwks, openIdConfiguration } from './metadata.js';
import { normalizeScope, scopeResources } from './tokens.js';
import type { Endpoint, RequestEntry } from './types.js';
import { formPage, pageKindOf, submitForm } from './verify-page.js';
import type { PageKind } from './verify-page.js';

type Route = { endpoint: Endpoint; name: string; tenant?: string; page?: PageKind };

const TENANT_ROUTES: Record<string, { endpoint: Endpoint; name: string }> = {
  'v2.0/.well-known/openid-configuration': { endpoint: 'metadata', name: 'metadata' },
  'oauth2/v2.0/devicecode': { endpoint: 'devicecode', name: 'devicecode' },
  'oauth2/v2.0/token': { endpoint: 'token', name: 'token' },
  'discovery/v2.0/keys': { endpoint: 'keys', name: 'keys' },
  'oauth2/v2.0/logout': { endpoint: 'other', name: 'logout' },
  'oauth2/v2.0/authorize': { endpoint: 'other', name: 'authorize' },
};

const safeDecode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

function classify(pathname: string): Route {
  const page = pageKindOf(pathname);
  if (page !== undefined) return { endpoint: 'verify', name: 'verify', page };
  if (pathname === '/') return { endpoint: 'other', name: 'root' };
  const m = /^\/([^/]+)\/(.+)$/.exec(pathname);
  const route = m ? TENANT_ROUTES[m[2] ?? ''] : undefined;
  return m && route ? { ...route, tenant: safeDecode(m[1] ?? '') } : { endpoint: 'other', name: 'unknown' };
}

const correlationIdOf = (req: IncomingMessage, url: URL): string => {
  const given = url.searchParams.get('client-request-id') ?? req.headers['client-request-id'];
  return typeof given === 'string' && /^[\w-]{1,64}$/.test(given) ? given : randomUUID();
};

/** The HTTPS request handler: Entra's wire endpoints, the verification page, and the wire faults. */
export function providerHandler(ctx: IdpContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'https://idp.invalid');
    const route = classify(url.pathname);
    const entry = ctx.log.start(req.method ?? 'GET', url.pathname, route.endpoint);
    handle(ctx, req, res, url, route, entry)
      .catch((e: unknown) => {
        if (res.headersSent || res.destroyed) return;
        const err = e instanceof BodyTooLargeError ? entraErrors.tooLarge() : entraErrors.serverError(500);
        if (!(e instanceof BodyTooLargeError)) console.error('idp: request failed:', e);
        respondError(res, entry, err, correlationIdOf(req, url));
      })
      .finally(() => ctx.log.done(entry));
  };
}

function respondError(res: ServerResponse, entry: RequestEntry, err: EntraError, correlationId: string): void {
  const body = entraErrorBody(err, correlationId);
  entry.status = err.status;
  entry.error = err.error;
  sendJson(res, err.status, body, { 'x-ms-request-id': body.trace_id, 'client-request-id': correlationId });
}

async function handle(ctx: IdpContext, req: IncomingMessage, res: ServerResponse, url: URL, route: Route, entry: RequestEntry): Promise<void> {
  const now = entry.at; // arrival time: poll intervals are judged as /requests shows them
  const method = req.method ?? 'GET';
  const form = new URLSearchParams(method === 'POST' ? await readBody(req) : '');
  const clientId = form.get('client_id');
  const grantType = form.get('grant_type');
  if (clientId !== null) entry.client_id = clientId;
  if (grantType !== null) entry.grant_type = grantType;
  const correlationId = correlationIdOf(req, url);
  const origin = requestOrigin(ctx, req.headers.host);
  const fail = (err: EntraError) => respondError(res, entry, err, correlationId);
  const json = (body: unknown) => {
    entry.status = 200;
    sendJson(res, 200, body, { 'x-ms-request-id': randomUUID(), 'client-request-id': correlationId });
  };

  const fault = ctx.faults.take(route.endpoint);
  if (fault?.kind === 'drop') {
    entry.fault = 'drop';
    req.socket.destroy();
    return;
  }
  if (fault?.kind === 'hang') {
    entry.fault = 'hang';
    return; // never answered; the socket is destroyed when the server closes
  }
  const delay = ctx.faults.settings.delay_ms;
  if (delay > 0 && route.endpoint !== 'verify' && route.endpoint !== 'other') await sleep(delay);
  if (res.destroyed) return;
  if (fault?.kind === 'fail') {
    entry.fault = 'fail';
    return fail(entraErrors.serverError(fault.status));
  }

  if (route.tenant !== undefined && !isOwnTenant(ctx, route.tenant)) return fail(entraErrors.tenantNotFound(route.tenant));
  const postOnly = route.endpoint === 'devicecode' || route.endpoint === 'token';
  if (postOnly && method !== 'POST') return fail(entraErrors.postOnly(method));
  if (!postOnly && route.endpoint !== 'verify' && method !== 'GET' && method !== 'HEAD') return fail(entraErrors.methodNotAllowed(method));

  switch (route.name) {
    case 'metadata':
      return json(openIdConfiguration(ctx, origin));
    case 'keys':
      return json(jwks(ctx, origin));
    case 'devicecode': {
      if (!clientId) return fail(entraErrors.missingParameter('client_id'));
      const clientErr = clientError(ctx, clientId, false);
      if (clientErr) return fail(clientErr);
      const scope = normalizeScope(form.get('scope') ?? '');
      if (scope === '') return fail(entraErrors.missingParameter('scope'));
      if (scopeResources(scope).length > 1) return fail(entraErrors.multipleResources(scope));
      const { record, response } = issueDeviceCode(ctx, origin, clientId, scope, now);
      entry.code_id = record.id;
      return json(response);
    }
    case 'token': {
      const outcome = await tokenGrant(ctx, origin, form, now);
      if (outcome.codeId !== undefined) entry.code_id = outcome.codeId;
      return outcome.ok ? json(outcome.body) : fail(outcome.err);
    }
    case 'verify': {
      const kind = route.page ?? 'device';
      // Only the provider's own page takes the code from the URL; Entra's pages do not.
      const prefill = kind === 'device' ? (url.searchParams.get('user_code') ?? '') : '';
      const page = method === 'POST' ? submitForm(ctx, kind, form, now) : formPage(ctx, kind, prefill);
      entry.status = page.status;
      if (page.codeId !== undefined) entry.code_id = page.codeId;
      if (page.error !== undefined) entry.error = page.error;
      return sendHtml(res, page.status, page.html);
    }
    case 'root':
      entry.status = 302;
      return redirect(res, ctx.externalId ? TENANT_PAGE_PATH : '/device');
    case 'logout':
    case 'authorize': {
      const text = route.name === 'logout' ? 'You are signed out.' : `This provider supports only the device code flow: open ${ctx.externalId ? TENANT_PAGE_PATH : '/device'}.`;
      entry.status = route.name === 'logout' ? 200 : 400;
      return sendHtml(res, entry.status, `<!doctype html><html lang="en"><meta charset="utf-8"><title>Local identity provider</title><p>${text}</p></html>\n`);
    }
    default:
      return fail(entraErrors.notFound(url.pathname));
  }
}
