import fc from 'fast-check';
import type { Arbitrary, IAsyncProperty, IProperty } from 'fast-check';

/**
 * Shared plumbing of the property-based suites (`test/fuzz-*.test.ts`): fixed seeds so that a run is
 * reproducible, a tally per file, and a failure message that names the seed to replay.
 *
 * `FUZZ_SEED=<n>` replays one seed in every property; `FUZZ_SCALE=<x>` multiplies the number of runs
 * (e.g. `FUZZ_SCALE=10` for a long soak); `FUZZ_SEED` with `FUZZ_PATH` replays a reported counterexample.
 */
export interface Tally {
  /** Inputs the code under test was given. */
  cases: number;
  /** Inputs it refused with its documented error. */
  rejections: number;
  /** Inputs that broke a property (anything else thrown, a hang, a wrong answer). */
  crashes: number;
}

export const newTally = (): Tally => ({ cases: 0, rejections: 0, crashes: 0 });

const scale = Number(process.env.FUZZ_SCALE ?? '1');

/** `n` scaled by `FUZZ_SCALE` (at least 1). */
export const runs = (n: number): number => Math.max(1, Math.round(n * (Number.isFinite(scale) && scale > 0 ? scale : 1)));

/** The fixed seed of a property, unless `FUZZ_SEED` asks for another. */
export const seedOf = (fixed: number): number => (process.env.FUZZ_SEED === undefined ? fixed : Number(process.env.FUZZ_SEED));

export interface CheckOptions {
  readonly seed: number;
  readonly numRuns: number;
  /** Counted as a crash when the property fails. */
  readonly tally: Tally;
}

/**
 * Runs a property with a fixed seed; on failure throws fast-check's report (counterexample, seed and
 * path) headed by the line to replay it with.
 */
export async function checkProperty<T>(name: string, property: IProperty<T> | IAsyncProperty<T>, o: CheckOptions): Promise<void> {
  const seed = seedOf(o.seed);
  const path = process.env.FUZZ_SEED === undefined ? undefined : process.env.FUZZ_PATH;
  const details = await fc.check(property, { seed, numRuns: runs(o.numRuns), includeErrorInReport: true, ...(path ? { path } : {}) });
  if (!details.failed) return;
  o.tally.crashes += 1;
  // Counterexamples can be megabytes long: keep the report readable.
  const report = (fc.defaultReportMessage(details) ?? 'property failed').replace(/[^\n]{2000,}/g, (line) => `${line.slice(0, 2000)}… (${line.length} characters)`);
  throw new Error(`fuzz "${name}" failed with seed ${seed} (replay: FUZZ_SEED=${seed}, path ${details.counterexamplePath ?? '?'})\n${report}`);
}

/** The one-line summary each fuzz file prints. */
export const summaryLine = (area: string, t: Tally, ms: number): string =>
  `fuzz ${area}: ${t.cases} cases, ${t.rejections} rejections, ${t.crashes} crashes, ${(ms / 1000).toFixed(1)} s`;

/** A string of `length` characters built from `unit` repeated: huge values without generating them char by char. */
export const repeated = (unit: string, length: number): string => unit.repeat(Math.ceil(length / Math.max(1, unit.length))).slice(0, length);

/** Strings that break naive parsers: controls, NUL, line separators, lone surrogates, RTL marks, BOM, emoji. */
const NASTY = ['\0', '\n', '\r\n', '\t', '\u2028', '\u2029', '\uFEFF', '\u202E', '\uD800', '\uDFFF', '😀', 'é', 'e\u0301', '"', "'", '\\', '%00', '${x}', '../', '\u0085'];

const HUGE_UNIT = fc.constantFrom('a', ' ', '\n', '1-99,', 'é', '\0');

/** Any string a person, a shell or a broken tool could put in a setting, from empty to a megabyte. */
export const hostileString = (): Arbitrary<string> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
    { weight: 4, arbitrary: fc.array(fc.constantFrom(...NASTY, ' ', 'a', '1', '-', '/', ':', '*', ','), { maxLength: 12 }).map((a) => a.join('')) },
    { weight: 2, arbitrary: fc.constantFrom('', ' ', '   ', '\t\n', '\n', '\r\n', '\u00A0', '\u3000') },
    { weight: 1, arbitrary: fc.tuple(HUGE_UNIT, fc.constantFrom(1_000, 10_000, 100_000)).map(([u, n]) => repeated(u, n)) },
    { weight: 1, arbitrary: fc.oneof({ weight: 19, arbitrary: fc.constant('') }, { weight: 1, arbitrary: HUGE_UNIT.map((u) => repeated(u, 1_000_000)) }) },
  );

/** Bytes that are not UTF-8: lone continuation bytes, overlongs, surrogates encoded, truncated sequences. */
export const invalidUtf8 = (): Arbitrary<Uint8Array> =>
  fc
    .array(
      fc.oneof(
        fc.constantFrom([0x80], [0xbf], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xff], [0xfe], [0xe2, 0x82]),
        fc.uint8Array({ maxLength: 8 }).map((a) => [...a]),
      ),
      { minLength: 1, maxLength: 16 },
    )
    .map((parts) => Uint8Array.from(parts.flat()));

/** JSON nested `depth` levels deep (arrays or objects), which naive recursive code overflows on. */
export const deepJson = (depth: number, kind: 'array' | 'object'): string =>
  kind === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

/** One change to a byte string; positions are fractions of its length, so they apply to any input. */
export type Mutation =
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'set'; readonly at: number; readonly byte: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'delete'; readonly at: number; readonly length: number };

const fraction = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });

export const mutationArb: Arbitrary<Mutation> = fc.oneof(
  { weight: 2, arbitrary: fraction.map((at): Mutation => ({ kind: 'truncate', at })) },
  { weight: 4, arbitrary: fc.tuple(fraction, fc.integer({ min: 0, max: 7 })).map(([at, bit]): Mutation => ({ kind: 'flip', at, bit })) },
  { weight: 1, arbitrary: fc.tuple(fraction, fc.constantFrom(0x00, 0x22, 0x5c, 0x7b, 0x7d, 0x2c, 0x3a, 0x20, 0xff, 0xc3)).map(([at, byte]): Mutation => ({ kind: 'set', at, byte })) },
  { weight: 1, arbitrary: fc.tuple(fraction, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([at, bytes]): Mutation => ({ kind: 'insert', at, bytes })) },
  { weight: 1, arbitrary: fc.tuple(fraction, fc.integer({ min: 1, max: 64 })).map(([at, length]): Mutation => ({ kind: 'delete', at, length })) },
);

/** `input` with `mutations` applied in order. */
export function mutate(input: Uint8Array, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const at = Math.floor(m.at * b.length);
    switch (m.kind) {
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'flip':
        if (b.length > 0) b[at] = (b[at] ?? 0) ^ (1 << m.bit);
        break;
      case 'set':
        if (b.length > 0) b[at] = m.byte;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
        break;
    }
  }
  return b;
}
