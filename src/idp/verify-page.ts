import { GLOBAL_PAGE_PATH, TENANT_PAGE_PATH } from './context.js';
import type { IdpContext } from './context.js';
import { decide } from './device-flow.js';
import type { SignInPage } from './device-flow.js';
import { escapeHtml as h } from './http.js';
import type { User } from './types.js';

export interface Page {
  status: number;
  html: string;
  /** The device code the form named, for the request log (its short id, never the secret). */
  codeId?: string;
  /** The AADSTS code of a refusal, for the request log. */
  error?: string;
}

/**
 * The three sign-in pages: the provider's own `/device` (prefilled from `?user_code=`), and the two
 * Entra serves, which take no code from the URL: the tenant's `/common/oauth2/deviceauth` and the
 * stand-in for the global `https://microsoft.com/devicelogin`.
 */
export type PageKind = 'device' | SignInPage;

const PAGES: Record<PageKind, { path: string; title: string; note: string }> = {
  device: { path: '/device', title: 'Sign in a device', note: '' },
  tenant: { path: TENANT_PAGE_PATH, title: 'Sign in a device', note: 'The tenant’s own device sign-in page.' },
  global: { path: GLOBAL_PAGE_PATH, title: 'Enter code', note: 'Stand-in for the global device sign-in page (https://microsoft.com/devicelogin).' },
};

export const pageKindOf = (pathname: string): PageKind | undefined =>
  (Object.keys(PAGES) as PageKind[]).find((k) => PAGES[k].path === pathname);

/** A hint for people on the stand-in global page of an External ID tenant: where its accounts do sign in. */
const globalNote = (ctx: IdpContext): string =>
  ctx.externalId ? ` This tenant’s accounts sign in at ${ctx.primaryOrigin()}${TENANT_PAGE_PATH}.` : '';

const STYLE = `
body{font:1.05rem/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1b1d21}
main{max-width:32rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border-radius:.5rem;box-shadow:0 1px 3px #0003}
h1{font-size:1.5rem;margin-top:0}
label,legend{font-weight:600}
input[type=text]{display:block;width:100%;box-sizing:border-box;font:1.4rem ui-monospace,monospace;letter-spacing:.15em;text-transform:uppercase;padding:.4rem .6rem;margin:.3rem 0;border:2px solid #555;border-radius:.3rem}
fieldset{border:1px solid #bbb;border-radius:.3rem;margin:1rem 0;padding:.5rem 1rem}
.user{margin:.3rem 0}.user label{font-weight:400}.mail{color:#555}
.help,.note{color:#555;font-size:.9rem}
.error{background:#fde7e9;border-left:4px solid #b3261e;padding:.5rem .8rem}
.ok{background:#e6f4ea;border-left:4px solid #1e7e34;padding:.5rem .8rem}
button{font:inherit;padding:.5rem 1.2rem;margin-right:.5rem;border-radius:.3rem;border:2px solid #1b1d21;background:#fff;cursor:pointer}
button[value=approve]{background:#0b57d0;border-color:#0b57d0;color:#fff}
:focus-visible{outline:3px solid #e8a200;outline-offset:2px}`;

function layout(title: string, content: string, note = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${h(title)} – local identity provider</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${h(title)}</h1>
${content}
<p class="note">${h(`${note} Local identity provider for development and tests: no real account is involved.`.trim())}</p>
</main>
</body>
</html>
`;
}

function userChoice(user: User, checked: boolean): string {
  const id = `user-${h(user.id)}`;
  return `<div class="user"><input type="radio" id="${id}" name="user" value="${h(user.id)}"${checked ? ' checked' : ''}>
<label for="${id}">${h(user.name)} <span class="mail">${h(user.email)}</span></label></div>`;
}

/** The form where a person types the user code, picks a test user, and approves or declines. */
export function formPage(ctx: IdpContext, kind: PageKind, userCode: string, selectedUser?: string, error?: { status: number; message: string }): Page {
  const page = PAGES[kind];
  const selected = ctx.store.users.find((u) => u.id === selectedUser) ?? ctx.store.users[0];
  const alert = error === undefined ? '' : `<p class="error" role="alert">${h(error.message)}</p>\n`;
  const content = `${alert}<p>Enter the code the device shows, choose who signs in, then approve or decline.</p>
<form method="post" action="${h(page.path)}">
<label for="user_code">Code</label>
<input type="text" id="user_code" name="user_code" value="${h(userCode)}" required maxlength="32"
 autocomplete="off" autocapitalize="characters" spellcheck="false" aria-describedby="code-help"${userCode === '' ? ' autofocus' : ''}>
<p id="code-help" class="help">Letters and digits, as shown on the device (for example ABCD23456).</p>
<fieldset>
<legend>Sign in as</legend>
${ctx.store.users.map((u) => userChoice(u, u === selected)).join('\n')}
</fieldset>
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="decline">Decline</button>
</form>`;
  const note = kind === 'global' ? `${page.note}${globalNote(ctx)}` : page.note;
  return { status: error?.status ?? 200, html: layout(page.title, content, note) };
}

/** Handles the form: approves or declines, then says what happened. */
export function submitForm(ctx: IdpContext, kind: PageKind, form: URLSearchParams, now: number): Page {
  const userCode = (form.get('user_code') ?? '').trim();
  const userId = form.get('user') ?? undefined;
  const action = form.get('action');
  if (action !== 'approve' && action !== 'decline')
    return formPage(ctx, kind, userCode, userId, { status: 400, message: 'Choose Approve or Decline.' });
  if (userCode === '') return formPage(ctx, kind, userCode, userId, { status: 400, message: 'Enter the code the device shows.' });
  const result = decide(ctx, userCode, action, userId, now, kind === 'global' ? 'global' : 'tenant');
  if (!result.ok) {
    const page = formPage(ctx, kind, userCode, userId, { status: result.status, message: result.message });
    return { ...page, codeId: result.record?.id, error: result.status === 403 ? result.error : undefined };
  }
  const again = `<p><a href="${h(PAGES[kind].path)}">Sign in another device</a></p>`;
  if (action === 'decline') {
    const text = `You declined the sign-in request for code ${result.record.userCode}. The device will not be signed in.`;
    return { status: 200, html: layout('Sign-in declined', `<p class="ok" role="status">${h(text)}</p>\n${again}`), codeId: result.record.id };
  }
  const user = result.user;
  const text = `The device with code ${result.record.userCode} is now signed in as ${user?.name ?? ''} (${user?.email ?? ''}). You can close this page.`;
  return { status: 200, html: layout('Device signed in', `<p class="ok" role="status">${h(text)}</p>\n${again}`), codeId: result.record.id };
}
