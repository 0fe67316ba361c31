/** The page a person opens to approve the code: what the displays show and the QR encodes. */
export interface SignInPage {
  readonly verificationUri: string;
  /** The page with the code in it, only when the provider gave one for the page shown. */
  readonly verificationUriComplete?: string;
  /** Why this page, for the log. */
  readonly reason: string;
}

/**
 * Entra's global device-login pages. An External ID tenant's own (local) customer accounts are refused
 * there with AADSTS500208 ("not a valid login domain for the account type"); the tenant's own
 * `/common/oauth2/deviceauth` accepts them. Entra names `https://microsoft.com/devicelogin`; the others
 * are aliases of the same page.
 */
const GLOBAL_PAGES = new Set(['microsoft.com/devicelogin', 'login.microsoft.com/device', 'aka.ms/devicelogin']);

const isExternalId = (authority: string): boolean => new URL(authority).hostname.toLowerCase().endsWith('.ciamlogin.com');

function isGlobalPage(uri: string): boolean {
  if (!URL.canParse(uri)) return false;
  const url = new URL(uri);
  const host = url.hostname.toLowerCase().replace(/^www\./, '');
  return GLOBAL_PAGES.has(`${host}${url.pathname.replace(/\/+$/, '').toLowerCase()}`);
}

/**
 * The sign-in page for `KIOSK_VERIFICATION_URI` (`setting`): a URL is shown as it is; `auto` shows the
 * provider's page, except on Entra External ID where a global page is replaced by the tenant's own.
 */
export function signInPage(setting: string, authority: string, provider: { uri: string; complete?: string }): SignInPage {
  if (setting !== 'auto') return { verificationUri: setting, reason: 'KIOSK_VERIFICATION_URI names it' };
  if (isExternalId(authority) && isGlobalPage(provider.uri)) {
    return {
      verificationUri: `${new URL(authority).origin}/common/oauth2/deviceauth`,
      reason: `External ID: ${provider.uri} refuses the tenant's own accounts (AADSTS500208); the tenant's page accepts them`,
    };
  }
  return { verificationUri: provider.uri, verificationUriComplete: provider.complete, reason: "the provider's page" };
}
