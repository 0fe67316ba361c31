/**
 * The plain kinds of setting value (text, numbers, booleans, word lists, labels) and how a problem
 * quotes a value. `Validator` (src/config-checks.ts) adds the agent's own kinds.
 */

/**
 * A value as a problem or warning quotes it: on one line, at most 80 characters, a URL's password
 * masked, and no character a terminal or log viewer acts on (controls, line and bidi separators).
 */
export function shown(value: string): string {
  const text = withoutPassword(value, '***');
  const escaped = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text).slice(1, -1);
  return escaped.replace(/[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The value with a URL's password (e.g. `mqtts://user:secret@host`) replaced by `mask`; other values as they are. */
export function withoutPassword(value: string, mask: string): string {
  if (!URL.canParse(value)) return value;
  const url = new URL(value);
  if (url.password === '') return value;
  url.password = mask;
  return url.href;
}

/** Each method checks one setting and records a problem naming it and the fix; it returns a usable value either way. */
export class ValueChecks {
  constructor(
    protected readonly values: Record<string, string | undefined>,
    private readonly problems: string[],
  ) {}

  protected fail<T>(name: string, message: string, fallback: T): T {
    this.problems.push(`${name}: ${message}`);
    return fallback;
  }

  optional(name: string): string | undefined {
    return this.values[name];
  }

  text(name: string): string {
    return this.values[name] ?? this.fail(name, 'is required; set it (see README, Configuration)', '');
  }

  /** A name for people to read: one line of printable text, at most `max` characters. */
  label(name: string, max: number): string | undefined {
    const value = this.values[name];
    if (value === undefined) return undefined;
    if ([...value].length > max || /[\p{Cc}\p{Cs}\u2028\u2029]/u.test(value))
      return this.fail(name, `"${shown(value)}" must be one line of at most ${max} printable characters`, undefined);
    return value;
  }

  optionalInteger(name: string, min: number, max: number, what: string): number | undefined {
    return this.values[name] === undefined ? undefined : this.integer(name, min, max, what);
  }

  integer(name: string, min: number, max: number, what: string): number {
    const value = this.text(name);
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) return this.fail(name, `"${shown(value)}" is not ${what}`, min);
    return n;
  }

  words(name: string, pattern: RegExp, what: string): string[] {
    const items = this.text(name).split(/\s+/).filter(Boolean);
    if (items.length === 0 || !items.every((w) => pattern.test(w))) return this.fail(name, `must be ${what}`, items);
    return items;
  }

  boolean(name: string): boolean {
    const value = this.text(name).toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(value)) return true;
    if (['false', '0', 'no', 'off'].includes(value)) return false;
    return this.fail(name, `"${shown(value)}" is not true or false`, false);
  }

  /** A rule between settings: records the problem under `name`. */
  problem(name: string, message: string): void {
    this.fail(name, message, undefined);
  }

  oneOf(name: string, allowed: readonly string[]): string {
    const value = this.text(name);
    if (!allowed.includes(value)) return this.fail(name, `"${shown(value)}" must be one of ${allowed.join(', ')}`, allowed[0] ?? '');
    return value;
  }
}
