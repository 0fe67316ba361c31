/** JWT-shaped runs, and `code=`/`token=` style query parameters, replaced inside free text. */
const JWT = /eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*/g;
const SECRET_PARAM = /\b(code|otc|device_code|user_code|refresh_token|access_token|id_token|client_info|password)=([^&\s"']+)/gi;

/** Free text (a provider's message, a URL) with anything secret-shaped in it replaced, before it is logged. */
export function scrub(text: string): string {
  return text.replace(JWT, '[redacted]').replace(SECRET_PARAM, '$1=[redacted]');
}
