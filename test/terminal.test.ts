import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { systemClock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import type { DisplayDeps } from '../src/displays/display.js';
import { fit, wrap } from '../src/displays/terminal-layout.js';
import { terminalDisplay } from '../src/displays/terminal.js';
import { toView } from '../src/displays/view.js';
import { createLogger } from '../src/log.js';
import type { Snapshot } from '../src/state.js';
import { decodeTerminalQr } from './helpers/qr-decode.js';

const NOW = Date.parse('2025-01-01T14:30:00Z');
const URI = 'https://microsoft.com/devicelogin';
const CODE = 'ABCD-EFGH';
const ESC = '\x1b';

/** A screen that keeps what is written; a TTY when given a size. */
class Screen extends Writable {
  readonly chunks: string[] = [];
  isTTY?: boolean;
  columns?: number;
  rows?: number;
  constructor(size?: { columns: number; rows: number }) {
    super();
    if (size !== undefined) Object.assign(this, { isTTY: true, ...size });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk.toString('utf8'));
    cb();
  }
  get text(): string {
    return this.chunks.join('');
  }
}

function deps(stdout: Screen | undefined, env: Record<string, string> = {}): DisplayDeps {
  const env2 = { KIOSK_CLIENT_ID: 'kiosk-test', KIOSK_AUTHORITY: 'https://login.example.test/tenant/', KIOSK_DEVICE_ID: 'lobby-1', ...env };
  return { config: loadConfig({ env: env2 }).config, log: createLogger('silent'), clock: systemClock, stdout };
}

const awaiting = (extra: Partial<Snapshot> = {}): Snapshot =>
  ({ state: 'awaiting_sign_in', since: NOW, userCode: CODE, verificationUri: URI, expiresAt: NOW + 300_000, ...extra });
const at = (snapshot: Snapshot, now = NOW, claims?: Record<string, unknown>) => toView(snapshot, claims, now, 'lobby-1');
const CSI = new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]`, 'g');
const visible = (line: string): string => line.replace(CSI, '');

test('plain mode: code, URL and a scannable QR, no ANSI, no line per countdown second', async () => {
  const out = new Screen();
  const d = terminalDisplay(deps(out));
  await d.start();
  d.render(at({ state: 'starting', since: NOW }));
  for (let s = 0; s < 5; s += 1) d.render(at(awaiting(), NOW + s * 1_000));
  d.render(at({ state: 'signed_in', since: NOW, account: { username: 'ada@example.com', name: 'Ada' } }));
  await d.stop();

  const text = out.text;
  assert.ok(!text.includes(ESC), 'no escape sequences');
  assert.ok(text.includes(CODE));
  assert.ok(text.includes(URI));
  assert.ok(text.includes('Signed in as Ada'));
  const blocks = text.split('\n\n').filter(Boolean);
  assert.equal(blocks.length, 3, 'one block for each change, none for countdown seconds');
  assert.match(blocks[1]!, /expires at 14:35 UTC/);
  assert.equal(decodeTerminalQr(blocks[1]!, 'dark'), URI);
});

test('plain mode: a fresh code or a changed status prints again', async () => {
  const out = new Screen();
  const d = terminalDisplay(deps(out));
  await d.start();
  d.render(at(awaiting()));
  d.render(at(awaiting({ userCode: 'WXYZ-2345', expiresAt: NOW + 900_000 }), NOW + 1_000));
  d.render(at(awaiting({ userCode: 'WXYZ-2345', expiresAt: NOW + 900_000, detail: 'Sign-in was declined' }), NOW + 2_000));
  await d.stop();
  assert.equal(out.text.split('\n\n').filter(Boolean).length, 3);
});

test('TTY mode: redraws in place, QR decodes to the verification URI, cursor hidden then restored', async () => {
  const out = new Screen({ columns: 80, rows: 24 });
  const d = terminalDisplay(deps(out));
  await d.start();
  assert.ok(out.text.includes(`${ESC}[?25l`), 'cursor hidden');
  const started = out.chunks.length;
  d.render(at(awaiting()));
  d.render(at(awaiting(), NOW + 400));
  assert.equal(out.chunks.length, started + 1, 'an unchanged frame is not written again');
  d.render(at(awaiting(), NOW + 1_000));
  const frames = out.chunks.slice(started);
  assert.equal(frames.length, 2);
  for (const frame of frames) {
    assert.ok(frame.startsWith(`${ESC}[H`), 'cursor home first');
    assert.ok(frame.endsWith(`${ESC}[J`), 'clears what is left below');
    const lines = frame.split('\r\n');
    assert.ok(lines.length <= 24, `${lines.length} rows`);
    assert.ok(!frame.includes('\n\n') && !frame.endsWith('\n'), 'never scrolls');
    for (const line of lines) assert.ok([...visible(line)].length <= 80, visible(line));
    assert.equal(decodeTerminalQr(frame, 'dark'), URI);
    assert.equal(decodeTerminalQr(frame, 'light'), URI);
  }
  assert.match(visible(frames[0]!), /Left {2}5:00/);
  assert.match(visible(frames[1]!), /Left {2}4:59/);
  assert.match(visible(frames[1]!), /█▀▀▀▄/, 'the code in block letters');
  await d.stop();
  assert.ok(out.chunks.at(-1)!.includes(`${ESC}[?25h`), 'cursor restored');
});

test('TTY mode: the QR carries verificationUriComplete when there is one', async () => {
  const complete = 'https://127.0.0.1:8443/common/oauth2/v2.0/deviceauth?user_code=ABCD-EFGH';
  const out = new Screen({ columns: 80, rows: 24 });
  const d = terminalDisplay(deps(out));
  await d.start();
  d.render(at(awaiting({ verificationUriComplete: complete })));
  await d.stop();
  assert.equal(decodeTerminalQr(out.text), complete);
  assert.ok(visible(out.text).includes(CODE), 'the code is still shown to type');
});

test('TTY mode: a screen too small for the QR says so and still shows code and URL', async () => {
  const out = new Screen({ columns: 60, rows: 15 });
  const d = terminalDisplay(deps(out));
  await d.start();
  d.render(at(awaiting()));
  await d.stop();
  const text = visible(out.text);
  assert.match(text, /too small for the QR code/);
  assert.ok(text.includes(CODE));
  assert.ok(text.includes(URI));
  assert.equal(decodeTerminalQr(out.text), undefined);
});

test('TTY mode: redraws for a resize; signed in shows the account name', async () => {
  const out = new Screen({ columns: 60, rows: 15 });
  const d = terminalDisplay(deps(out));
  await d.start();
  d.render(at(awaiting()));
  Object.assign(out, { columns: 100, rows: 40 });
  out.emit('resize');
  assert.equal(decodeTerminalQr(out.text), URI);
  d.render(at({ state: 'signed_in', since: NOW, nextRefreshAt: NOW + 900_000 }, NOW, { name: 'Ada Lovelace' }));
  const last = visible(out.chunks.at(-1)!);
  assert.match(last, /Signed in as Ada Lovelace/);
  assert.match(last, /Next refresh 14:45 UTC/);
  await d.stop();
});

test('signed in: who is signed in, on a TTY and in plain text, from the claims only, escape sequences in a claim made harmless', async () => {
  const claims = { name: 'Ada Lovelace', preferred_username: 'ada@example.com\x1b[2J', email: 'ada@mail.example', oid: '2f6e1a0c-8d1b-4a55-9c2e-7e3f5b1d9a40' };
  const signedIn = at({ state: 'signed_in', since: NOW, account: { username: 'cached@example.com' }, nextRefreshAt: NOW + 900_000 }, NOW, claims);
  const tty = new Screen({ columns: 80, rows: 24 });
  const d = terminalDisplay(deps(tty));
  await d.start();
  d.render(signedIn);
  await d.stop();
  const frame = tty.chunks.find((c) => c.includes('Signed in as')) ?? '';
  const screen = visible(frame);
  assert.match(screen, /Signed in as Ada Lovelace/);
  assert.match(screen, /Username {3}ada@example\.com \[2J/, 'labels in one column');
  assert.match(screen, /Email {6}ada@mail\.example/);
  assert.match(screen, /Object ID {2}2f6e1a0c-8d1b-4a55-9c2e-7e3f5b1d9a40/);
  assert.doesNotMatch(screen, /cached@example/, 'the cached account is not a verified claim');
  assert.ok(!frame.includes('com\x1b[2J'), 'the claim\'s escape is not sent to the terminal');

  const plain = new Screen();
  const p = terminalDisplay(deps(plain));
  await p.start();
  p.render(signedIn);
  await p.stop();
  assert.match(plain.text, /^Username: ada@example\.com \[2J$/m);
  assert.match(plain.text, /^Email: ada@mail\.example$/m);
  assert.match(plain.text, /^Object ID: 2f6e1a0c/m);
  assert.ok(!plain.text.includes(ESC));
});

test('device path: draws into the given file; a missing device fails start with ENOENT', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiosk-terminal-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'tty');
  await writeFile(path, '');
  const d = terminalDisplay(deps(undefined, { KIOSK_TERMINAL: path }));
  await d.start();
  d.render(at(awaiting()));
  await d.stop();
  const written = await readFile(path, 'utf8');
  assert.ok(written.includes(CODE) && !written.includes(ESC));
  assert.equal(decodeTerminalQr(written), URI);

  const missing = terminalDisplay(deps(undefined, { KIOSK_TERMINAL: join(dir, 'no', 'tty') }));
  await assert.rejects(missing.start(), { code: 'ENOENT' });
  await missing.stop();
});

test('a write error surfaces on the next render, so the display gets restarted', async () => {
  const out = new Screen({ columns: 80, rows: 24 });
  const d = terminalDisplay(deps(out));
  await d.start();
  out.emit('error', Object.assign(new Error('write EIO'), { code: 'EIO' }));
  assert.throws(() => d.render(at(awaiting())), { code: 'EIO' });
  await d.stop();
});

test('layout helpers: words wrap, long URLs break, cut text is marked', () => {
  assert.deepEqual(wrap('Open https://example.com/a/very/long/path now', 12), ['Open', 'https://exam', 'ple.com/a/ve', 'ry/long/path', 'now']);
  assert.deepEqual(wrap('', 10), []);
  assert.equal(fit('Signed in as Ada Lovelace', 10), 'Signed in…');
  assert.equal(fit('short', 10), 'short');
});

test('TTY mode with KIOSK_TERMINAL_ROWS: draws exactly its rows from the top and leaves the rest of the screen as it is', async () => {
  const out = new Screen({ columns: 100, rows: 40 });
  const d = terminalDisplay(deps(out, { KIOSK_TERMINAL_ROWS: '30' }));
  await d.start();
  assert.ok(!out.text.includes(`${ESC}[2J`), 'the screen is not cleared');
  const started = out.chunks.length;
  d.render(at(awaiting()));
  d.render(at({ state: 'offline', since: NOW, retryAt: NOW + 5_000 }));
  for (const frame of out.chunks.slice(started)) {
    assert.ok(frame.startsWith(`${ESC}[H`));
    assert.ok(!frame.includes(`${ESC}[J`), 'nothing below its rows is erased');
    assert.equal(frame.split('\r\n').length, 30, 'every one of its rows is drawn, blank ones too');
  }
  assert.equal(decodeTerminalQr(out.chunks[started]!, 'dark'), URI);
  await d.stop();
});
