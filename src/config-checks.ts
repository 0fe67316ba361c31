import { validate as validCron } from 'node-cron';
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { DISPLAY_NAMES } from './config-types.js';
import type { Config, DisplayName, TokenEndpointConfig } from './config-types.js';
import type { DefaultDeviceId } from './device-id.js';
import { messageOf } from './errors.js';
import { normalizeResource, resourceOfScope } from './resources.js';
import { PEM_FILE_LIMIT, readSmallFile } from './small-file.js';
import { shown, ValueChecks } from './value-checks.js';


/** A DNS name as a browser sends it in `Host`: labels of letters, digits, `-` and `_`, dot separated. */
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** A topic prefix: segments without `+`, `#`, spaces or empty parts (KIOSK_MQTT_PREFIX, KIOSK_HA_PREFIX, `watch --prefix`). */
export const isTopicPrefix = (value: string): boolean => /^[^#+/\s]+(\/[^#+/\s]+)*$/.test(value);

/** The agent's own kinds of value (URLs, topics, cron, displays, …), on top of the plain ones. */
export class Validator extends ValueChecks {
  clientId(name: string): string {
    const value = this.values[name];
    if (value === undefined) return this.fail(name, 'is required; set it to the application (client) id of your app registration', '');
    if (!/^[\w.:-]+$/.test(value)) return this.fail(name, `"${shown(value)}" is not a client id; copy the Application (client) ID from the app registration`, '');
    return value;
  }

  /** `alternative`: a word the setting also accepts, named in the fix (e.g. `off`). */
  url(name: string, protocols: readonly string[], alternative?: string): string {
    const value = this.text(name);
    const or = alternative === undefined ? '' : `, or ${alternative}`;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return this.fail(name, `"${shown(value)}" is not a URL; use ${protocols.map((p) => `${p}//host`).join(', ')}${or}`, value);
    }
    if (!protocols.includes(url.protocol)) return this.fail(name, `"${shown(value)}" must start with ${protocols.map((p) => `${p}//`).join(' or ')}${or}`, value);
    return value;
  }

  authority(name: string): string {
    const value = this.values[name];
    if (value === undefined) return this.fail(name, 'is required; set it to your authority, e.g. https://contoso.ciamlogin.com/', '');
    const url = this.url(name, ['https:']);
    try {
      const u = new URL(url);
      if (u.search || u.hash) return this.fail(name, `"${shown(value)}" must not have a query or fragment; use e.g. https://contoso.ciamlogin.com/`, url);
      return u.href.endsWith('/') ? u.href : `${u.href}/`;
    } catch {
      return url;
    }
  }

  knownAuthorities(name: string, authority: string): string[] {
    const own = URL.canParse(authority) ? [new URL(authority).origin] : [];
    const extra = (this.values[name] ?? '').split(/\s+/).filter(Boolean).flatMap((item) => {
      if (!URL.canParse(item) || new URL(item).protocol !== 'https:')
        return this.fail(name, `"${shown(item)}" is not an https origin; list origins like https://<tenant-id>.ciamlogin.com`, []);
      return [new URL(item).origin];
    });
    return [...new Set([...own, ...extra])];
  }

  query(name: string): Record<string, string> {
    const value = this.values[name];
    if (value === undefined) return {};
    const params = new URLSearchParams(value);
    const out: Record<string, string> = {};
    for (const [k, v] of params) {
      if (!k || !v) return this.fail(name, `"${shown(value)}" must be k=v pairs joined by &, e.g. dc=ESTS-PUB-WUS2-AZ1-FD000-TEST1`, {});
      out[k] = v;
    }
    return out;
  }

  /** `fallback`: where the id comes from when the setting is unset (src/device-id.ts), or why it must be set. */
  deviceId(name: string, fallback: DefaultDeviceId): string {
    const given = this.values[name];
    if (given === undefined && 'problem' in fallback) return this.fail(name, fallback.problem, 'invalid');
    const value = given ?? ('id' in fallback ? fallback.id : '');
    const from = given === undefined && 'from' in fallback ? ` (${fallback.from})` : '';
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(value))
      return this.fail(name, `"${shown(value)}"${from} may only use letters, digits, "_" and "-" (1 to 64); set KIOSK_DEVICE_ID`, 'invalid');
    return value;
  }

  readablePath(name: string): string | undefined {
    const path = this.values[name];
    if (path === undefined) return undefined;
    try {
      readSmallFile(path, PEM_FILE_LIMIT);
    } catch (e) {
      return this.fail(name, `cannot read ${shown(path)} (${shown(messageOf(e))}); point it at a readable PEM file`, path);
    }
    return path;
  }

  topic(name: string): string {
    const value = this.text(name);
    if (!isTopicPrefix(value)) return this.fail(name, `"${shown(value)}" is not a topic prefix; use segments without +, #, spaces or empty parts, e.g. kiosk`, value);
    return value;
  }

  /**
   * `checked`: the setting's default, known good (its test checks it with node-cron): node-cron is
   * loaded here only for an expression the kiosk sets, so a boot on the default runs none of it before
   * its first frame.
   */
  cron(name: string, checked?: string): string {
    const value = this.text(name);
    if (value === checked) return value;
    // node-cron expands ranges into lists before it checks them: "1-99999999" would hang it. No field
    // takes a number above 99 (steps aside), and no sensible expression is that long.
    const oversized = value.length > 1_000 || /\d{3,}/.test(value.replace(/\/\d+/g, ''));
    if (oversized || !validCron(value)) return this.fail(name, `"${shown(value)}" is not a cron expression; use five or six fields, e.g. "*/15 * * * *"`, value);
    return value;
  }

  displays(name: string): DisplayName[] {
    const items = this.text(name).split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = items.filter((d) => !(DISPLAY_NAMES as readonly string[]).includes(d));
    if (items.length === 0 || unknown.length > 0)
      return this.fail(name, `unknown display "${shown(unknown.join(','))}"; use a comma list of ${DISPLAY_NAMES.join(', ')}`, []);
    return [...new Set(items)] as DisplayName[];
  }

  geometry(name: string): Config['framebuffer']['geometry'] {
    const value = this.values[name];
    if (value === undefined) return undefined;
    const m = /^(\d{2,5})x(\d{2,5})x(16|24|32)$/.exec(value);
    if (!m) return this.fail(name, `"${shown(value)}" must be WIDTHxHEIGHTxBPP with BPP 16, 24 or 32, e.g. 800x480x32`, undefined);
    return { width: Number(m[1]), height: Number(m[2]), bpp: Number(m[3]) as 16 | 24 | 32 };
  }

  /** `WIDTHxHEIGHT`, each 1 to 65536 (a touchscreen's coordinate space). */
  size(name: string): { width: number; height: number } | undefined {
    const value = this.values[name];
    if (value === undefined) return undefined;
    const m = /^(\d{1,5})x(\d{1,5})$/.exec(value);
    const [width, height] = [Number(m?.[1]), Number(m?.[2])];
    if (!m || width < 1 || height < 1 || width > 65_536 || height > 65_536)
      return this.fail(name, `"${shown(value)}" must be WIDTHxHEIGHT of the touch's coordinates, e.g. 4096x4096`, undefined);
    return { width, height };
  }

  /** `auto`, or an https URL of a sign-in page. */
  verificationUri(name: string): string {
    const value = this.text(name);
    if (value === 'auto') return value;
    if (!URL.canParse(value) || new URL(value).protocol !== 'https:')
      return this.fail(name, `"${shown(value)}" must be auto or an https URL, e.g. https://contoso.ciamlogin.com/common/oauth2/deviceauth`, 'auto');
    return new URL(value).href;
  }

  cacheKey(name: string): string | undefined {
    const value = this.values[name];
    if (value !== undefined && value.length < 16)
      return this.fail(name, 'is too short; use at least 16 characters, e.g. the output of `openssl rand -base64 32`', undefined);
    return value;
  }

  /** Host names or addresses without scheme or port, space or comma separated; lower case, IPv6 in brackets. */
  hosts(name: string): string[] {
    const items = (this.values[name] ?? '').split(/[\s,]+/).filter(Boolean);
    return items.flatMap((item) => {
      const host = item.toLowerCase();
      const bare = host.replace(/^\[(.*)\]$/, '$1');
      if (isIPv6(bare)) return [`[${bare}]`];
      if (isIPv4(host) || HOST_NAME.test(host)) return [host];
      return this.fail(name, `"${shown(item)}" is not a host name; list names or addresses without scheme or port, e.g. "kiosk.local 192.168.1.20"`, []);
    });
  }

  /** An IANA time zone the runtime's ICU data knows, as ICU names it (`utc` → `UTC`). */
  timeZone(name: string): string {
    const value = this.text(name);
    // UTC, the default, is known without asking Intl, whose first formatter costs a boot 15 to 35 ms.
    if (value === 'UTC') return value;
    try {
      return new Intl.DateTimeFormat('en-GB', { timeZone: value }).resolvedOptions().timeZone;
    } catch {
      return this.fail(name, `"${shown(value)}" is not an IANA time zone; use a name such as Europe/Berlin or America/New_York, or UTC`, 'UTC');
    }
  }

  /** CONTRACT §8: the resources kiosk apps may ask for; by default those of the API scopes in KIOSK_SCOPES. */
  tokenResources(name: string, scopes: readonly string[]): string[] {
    const given = this.values[name];
    return given === undefined ? [...new Set(scopes.flatMap((s) => resourceOfScope(s) ?? []))] : this.resources(name, given);
  }

  /** An optional fixed header secret; never quoted in the problem. */
  tokenSecret(name: string): string | undefined {
    const secret = this.values[name];
    if (secret !== undefined && !/^[\x21-\x7e]{16,512}$/.test(secret))
      this.fail(name, 'must be 16 to 512 visible ASCII characters without spaces; use e.g. the output of `openssl rand -hex 32`, or leave it unset for a random one', undefined);
    return secret;
  }

  /** `off`, or `[HOST:]PORT` (HOST an IP address or `localhost`, `[…]` around IPv6; 127.0.0.1 by default). */
  tokenListen(name: string): Pick<TokenEndpointConfig, 'host' | 'port'> | undefined {
    const value = this.text(name);
    if (value === 'off') return undefined;
    const m = /^(?:(\[[0-9A-Fa-f:.]+\]|[^:[\]]+):)?(\d{1,5})$/.exec(value);
    const host = m?.[1]?.replace(/^\[(.*)\]$/, '$1') ?? '127.0.0.1';
    const port = Number(m?.[2]);
    if (!m || port > 65535 || (host !== 'localhost' && isIP(host) === 0))
      return this.fail(name, `"${shown(value)}" must be off, PORT or HOST:PORT with an IP address, e.g. 8079 or 127.0.0.1:8079`, undefined);
    return { host, port };
  }

  private resources(name: string, value: string): string[] {
    return [...new Set(value.split(/\s+/).filter(Boolean).flatMap((item) => {
      const resource = normalizeResource(item);
      return resource ?? this.fail(name, `"${shown(item)}" is not a resource; list api:// or https:// resources separated by spaces, e.g. api://<app-id> https://graph.microsoft.com`, []);
    }))];
  }

}
