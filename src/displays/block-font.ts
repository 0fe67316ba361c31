/**
 * A 5×5 block-letter font for user codes (A–Z, 0–9, hyphen), shared by the displays that draw
 * text as pixels. Rows top to bottom, `#` lit. Zero is slashed so it never reads as O.
 */
const GLYPHS: Readonly<Record<string, string>> = {
  A: '.###./#...#/#####/#...#/#...#', B: '####./#...#/####./#...#/####.', C: '.####/#..../#..../#..../.####',
  D: '####./#...#/#...#/#...#/####.', E: '#####/#..../####./#..../#####', F: '#####/#..../####./#..../#....',
  G: '.####/#..../#..##/#...#/.####', H: '#...#/#...#/#####/#...#/#...#', I: '#####/..#../..#../..#../#####',
  J: '..###/...#./...#./#..#./.##..', K: '#...#/#..#./###../#..#./#...#', L: '#..../#..../#..../#..../#####',
  M: '#...#/##.##/#.#.#/#...#/#...#', N: '#...#/##..#/#.#.#/#..##/#...#', O: '.###./#...#/#...#/#...#/.###.',
  P: '####./#...#/####./#..../#....', Q: '.###./#...#/#.#.#/#..#./.##.#', R: '####./#...#/####./#..#./#...#',
  S: '.####/#..../.###./....#/####.', T: '#####/..#../..#../..#../..#..', U: '#...#/#...#/#...#/#...#/.###.',
  V: '#...#/#...#/#...#/.#.#./..#..', W: '#...#/#...#/#.#.#/##.##/#...#', X: '#...#/.#.#./..#../.#.#./#...#',
  Y: '#...#/.#.#./..#../..#../..#..', Z: '#####/...#./..#../.#.../#####',
  0: '.###./#..##/#.#.#/##..#/.###.', 1: '..#../.##../..#../..#../.###.', 2: '####./....#/.###./#..../#####',
  3: '####./....#/.###./....#/####.', 4: '#..#./#..#./#####/...#./...#.', 5: '#####/#..../####./....#/####.',
  6: '.###./#..../####./#...#/.###.', 7: '#####/....#/...#./..#../..#..', 8: '.###./#...#/.###./#...#/.###.',
  9: '.###./#...#/.####/....#/.###.', '-': '...../...../.###./...../.....', ' ': '...../...../...../...../.....',
};

export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 5;

/** Hyphen look-alikes a provider might put in a code. */
const ALIASES: Readonly<Record<string, string>> = { '\u2010': '-', '\u2011': '-', '\u2012': '-', '\u2013': '-' };

/** The glyph's rows (true = lit), or undefined when the font has no such character. */
export function glyph(ch: string): readonly (readonly boolean[])[] | undefined {
  const key = ALIASES[ch] ?? ch.toUpperCase();
  const rows = GLYPHS[key];
  return rows?.split('/').map((row) => [...row].map((c) => c === '#'));
}

/**
 * `text` in the block font drawn with half blocks (three lines for five pixel rows, one column
 * gap between letters, so 6 columns per character), or undefined when a character is missing.
 * Lit pixels are glyphs, so the code shows in the terminal's own text colour.
 */
export function largeText(text: string): string[] | undefined {
  const glyphs = [...text].map(glyph);
  if (glyphs.length === 0 || glyphs.some((g) => g === undefined)) return undefined;
  const lit = (x: number, y: number): boolean => {
    const g = glyphs[Math.floor(x / (GLYPH_WIDTH + 1))];
    return g?.[y]?.[x % (GLYPH_WIDTH + 1)] === true;
  };
  const width = glyphs.length * (GLYPH_WIDTH + 1) - 1;
  const lines: string[] = [];
  for (let y = 0; y < GLYPH_HEIGHT; y += 2) {
    let line = '';
    for (let x = 0; x < width; x += 1) {
      const top = lit(x, y);
      const bottom = lit(x, y + 1);
      line += top ? (bottom ? '█' : '▀') : bottom ? '▄' : ' ';
    }
    lines.push(line);
  }
  return lines;
}
