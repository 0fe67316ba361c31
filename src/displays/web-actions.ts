import type { IncomingMessage } from 'node:http';
import type { ActionOutcome } from './display.js';
import { isOwnOrigin, isPageToken } from './web-guard.js';

/** The kiosk page's two actions (CONTRACT §9): `POST /sign-out` and `POST /sign-in`. */
export const ACTION_PATHS = ['/sign-out', '/sign-in'] as const;
export type ActionPath = (typeof ACTION_PATHS)[number];

/** Larger bodies are refused: the page sends `csrf=` and 43 characters. */
const MAX_BODY_BYTES = 1_024;

export interface ActionRequest {
  /** The setting that turns the action on, and whether it is on. */
  readonly setting: string;
  readonly enabled: boolean;
  readonly token: string;
  readonly act: () => Promise<ActionOutcome> | ActionOutcome;
}

/** The answer: an HTTP status, a line for the person or script that asked, and what gave a refused request away. */
export interface ActionAnswer {
  readonly status: number;
  readonly text: string;
  readonly forged?: 'origin' | 'token' | 'body_too_large';
}

const REFUSED: Readonly<Record<Exclude<ActionOutcome, 'ok'>, string>> = {
  not_signed_in: 'nobody is signed in; nothing to sign out',
  wrong_state: 'the kiosk is not waiting to be asked to sign in (it shows a code, or someone is signed in)',
};

/**
 * Decides one action request, in this order: the action is on (404), the `Origin` is the page's own
 * (403), the body is small (413), it carries the page's token (403); only then does the action run
 * (204, or 409 when the kiosk is not in a state for it). A refused request changes nothing.
 */
export async function answerAction(req: IncomingMessage, o: ActionRequest): Promise<ActionAnswer> {
  if (!o.enabled) return { status: 404, text: `not found: this action is off (${o.setting})` };
  if (!isOwnOrigin(req)) return { status: 403, text: 'forbidden: the request does not come from the kiosk page (Origin)', forged: 'origin' };
  const body = await readBody(req);
  if (body.failed !== undefined)
    return body.failed === 'incomplete'
      ? { status: 400, text: 'request body incomplete' }
      : { status: 413, text: `request body too large; the page sends at most ${MAX_BODY_BYTES} bytes`, forged: 'body_too_large' };
  if (!isPageToken(new URLSearchParams(body.text).get('csrf') ?? undefined, o.token))
    return { status: 403, text: 'forbidden: the page token (csrf) is missing or wrong; reload the page', forged: 'token' };
  const outcome = await o.act();
  return outcome === 'ok' ? { status: 204, text: '' } : { status: 409, text: REFUSED[outcome] };
}

type Body = { readonly text: string; readonly failed?: undefined } | { readonly failed: 'too_large' | 'incomplete' };

/** The body as text; `too_large` beyond MAX_BODY_BYTES (the rest is not read), `incomplete` when the peer went away. */
function readBody(req: IncomingMessage): Promise<Body> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.pause();
        return resolve({ failed: 'too_large' });
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve({ text: Buffer.concat(chunks).toString('utf8') }));
    // A peer that goes away mid-body: nothing to answer, nothing done.
    req.on('error', () => resolve({ failed: 'incomplete' }));
    req.on('close', () => resolve({ failed: 'incomplete' }));
  });
}
