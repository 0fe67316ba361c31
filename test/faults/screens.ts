import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentProcess } from '../helpers/agent.js';
import { frameToRgba } from '../helpers/framebuffer-png.js';
import type { FrameLayout, Rgba } from '../helpers/framebuffer-png.js';
import { findText } from '../helpers/framebuffer-text.js';
import type { ExtraText } from '../helpers/kiosk.js';

/** Small enough to scan often, large enough for the whole layout. */
export const FB_GEOMETRY = '480x320x16';
const LAYOUT: FrameLayout = { width: 480, height: 320, bpp: 16 };

/** The settings that turn on all three displays: the terminal on stdout, the web page on a free port, the framebuffer in a file. */
export function allDisplays(dir: string): Record<string, string> {
  return {
    KIOSK_DISPLAY: 'terminal,web,framebuffer',
    KIOSK_WEB_PORT: '0',
    KIOSK_FRAMEBUFFER: join(dir, 'fb.raw'),
    KIOSK_FRAMEBUFFER_GEOMETRY: FB_GEOMETRY,
  };
}

/**
 * Records what the kiosk's screens showed while an agent runs: every byte of the web page's
 * event stream plus its page, state and QR, and a copy of the framebuffer at each state change.
 */
export class Screens {
  private sse = '';
  private pages: ExtraText[] = [];
  private readonly frames: Array<{ state: string; image: Rgba }> = [];
  private readonly stopStream = new AbortController();
  private origin = '';

  constructor(
    private readonly agent: AgentProcess,
    private readonly fbPath: string,
  ) {}

  /** Waits for the web page to listen and opens its event stream. */
  async start(): Promise<void> {
    const line = await this.agent.waitForLog((l) => l.msg === 'kiosk page listening', 20_000, 'the kiosk page');
    this.origin = `http://127.0.0.1:${String(line.port)}`;
    const res = await fetch(`${this.origin}/events`, { signal: this.stopStream.signal });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    void (async () => {
      for (;;) {
        const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
        if (done) return;
        this.sse += decoder.decode(value, { stream: true });
      }
    })();
  }

  /** Takes the page, its state and QR, and the framebuffer as they are now. */
  async capture(state: string): Promise<void> {
    for (const path of ['/', '/state.json', '/qr.svg']) {
      const text = await fetch(`${this.origin}${path}`).then((r) => r.text(), () => '');
      this.pages.push([`web page ${path} (${state})`, text]);
    }
    const raw = await readFile(this.fbPath).catch(() => undefined);
    if (raw?.length === (LAYOUT.width * LAYOUT.height * LAYOUT.bpp) / 8) this.frames.push({ state, image: frameToRgba(raw, LAYOUT) });
  }

  /** Whether `text` is drawn on the framebuffer copy taken last. */
  lastFrameShows(text: string): boolean {
    const last = this.frames.at(-1);
    return last !== undefined && findText(last.image, text) !== undefined;
  }

  stop(): void {
    this.stopStream.abort();
  }

  /**
   * The web text to scan, and the framebuffer scan: each copy searched for the first characters of
   * every secret (a token drawn in full would start with them). Returns bytes of frame scanned.
   */
  scan(secrets: string[]): { texts: ExtraText[]; frameBytes: number; frameLeaks: string[] } {
    const prefixes = [...new Set(secrets.filter((s) => s.length >= 16).map((s) => s.slice(0, 10)))];
    const frameLeaks: string[] = [];
    for (const { state, image } of this.frames)
      for (const p of prefixes) if (findText(image, p) !== undefined) frameLeaks.push(`framebuffer (${state})`);
    return {
      texts: [['web page event stream', this.sse], ...this.pages],
      frameBytes: this.frames.length * ((LAYOUT.width * LAYOUT.height * LAYOUT.bpp) / 8),
      frameLeaks,
    };
  }
}
