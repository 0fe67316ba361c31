import assert from 'node:assert/strict';
import { test } from 'node:test';
import { glyph, largeText } from '../src/displays/block-font.js';
import { halfBlocks, qrMatrix, QUIET_ZONE } from '../src/displays/qr.js';
import { decodeTerminalQr } from './helpers/qr-decode.js';

const URI = 'https://microsoft.com/devicelogin';

test('qrMatrix: error correction M, a square symbol, light outside it', () => {
  const m = qrMatrix(URI);
  assert.equal(m.size, 29, 'a 33-character URL needs version 3 at level M');
  assert.equal(m.isDark(0, 0), true, 'finder pattern corner');
  assert.equal(m.isDark(-1, 0), false);
  assert.equal(m.isDark(m.size, m.size - 1), false);
  assert.throws(() => qrMatrix('x'.repeat(5_000)));
});

test('halfBlocks: 4-module quiet zone, one cell per module across and two down', () => {
  const m = qrMatrix(URI);
  const qr = halfBlocks(m);
  assert.equal(QUIET_ZONE, 4);
  assert.equal(qr.width, m.size + 8);
  assert.equal(qr.height, Math.ceil((m.size + 8) / 2));
  assert.ok(qr.lines.every((l) => [...l].length === qr.width));
  assert.ok(qr.lines.every((l) => /^[█▀▄ ]+$/.test(l)));
  // Quiet zone: two full rows of light glyphs at the top and bottom, four light columns each side.
  for (const l of [...qr.lines.slice(0, 2), ...qr.lines.slice(-2)]) assert.match(l, /^█+$/);
  for (const l of qr.lines) assert.match(l, /^████.*████$/u);
});

test('halfBlocks: plain text decodes on a dark terminal; ANSI colours decode on any theme', () => {
  const plain = halfBlocks(qrMatrix(URI)).lines.join('\n');
  assert.equal(decodeTerminalQr(plain, 'dark'), URI);
  const coloured = halfBlocks(qrMatrix(URI), { ansi: true }).lines.join('\n');
  assert.equal(decodeTerminalQr(coloured, 'dark'), URI);
  assert.equal(decodeTerminalQr(coloured, 'light'), URI);
});

test('the decoder is strict about polarity: dark modules drawn as glyphs do not read on a dark terminal', () => {
  const swap: Record<string, string> = { '█': ' ', ' ': '█', '▀': '▄', '▄': '▀' };
  const inverted = halfBlocks(qrMatrix(URI)).lines.map((l) => [...l].map((c) => swap[c] ?? c).join('')).join('\n');
  assert.equal(decodeTerminalQr(inverted, 'dark'), undefined);
  assert.equal(decodeTerminalQr(inverted, 'light'), URI);
});

test('block font: every code character is 5x5; codes render three lines high, 6 columns a character', () => {
  for (const ch of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-']) {
    const g = glyph(ch);
    assert.ok(g, ch);
    assert.equal(g.length, 5, ch);
    assert.ok(g.every((row) => row.length === 5), ch);
    assert.ok(g.some((row) => row.some(Boolean)), ch);
  }
  const lines = largeText('ABCD-1234');
  assert.ok(lines);
  assert.equal(lines.length, 3);
  assert.ok(lines.every((l) => [...l].length === 9 * 6 - 1));
  assert.deepEqual(largeText('abc'), largeText('ABC'));
  assert.deepEqual(largeText('A\u2011B'), largeText('A-B'));
  assert.equal(largeText('AB?'), undefined);
  assert.equal(largeText(''), undefined);
});
