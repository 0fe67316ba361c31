import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import type { DisplayName } from '../config.js';
import { messageOf } from '../errors.js';
import type { Display, DisplayDeps } from './display.js';
import { Canvas } from './fb-canvas.js';
import type { FbTarget } from './fb-geometry.js';
import { resolveTarget } from './fb-geometry.js';
import { paint } from './fb-layout.js';
import { TouchControls } from './fb-touch.js';
import { encodeFrame, frameSize } from './fb-pixels.js';
import { qrMatrix } from './qr.js';
import type { QrMatrix } from './qr.js';
import { kioskLabel, toView } from './view.js';
import type { View } from './view.js';

export interface FramebufferOptions {
  /** Where sysfs is mounted; tests point it at a fake `class/graphics/fbN/` tree. */
  readonly sysfsRoot?: string;
}

/**
 * CONTRACT §4 `framebuffer`: draws straight into `KIOSK_FRAMEBUFFER`, a Linux fbdev device (geometry,
 * depth and stride from sysfs) or a plain file with `KIOSK_FRAMEBUFFER_GEOMETRY`. Each view is
 * painted off-screen, encoded in the device's pixel format and written whole at offset 0 in one
 * positioned write, so the screen never shows half a frame; a frame identical to the one on
 * screen is not written at all (the once-a-second re-render while nothing counts down costs no I/O).
 */
export class FramebufferDisplay implements Display {
  readonly name: DisplayName = 'framebuffer';
  private file: FileHandle | undefined;
  private target: FbTarget | undefined;
  private canvas: Canvas | undefined;
  /** Two frame buffers: the one on screen and the one being drawn, swapped after each write. */
  private frames: [Buffer, Buffer] | undefined;
  private shown: Buffer | undefined;
  private qr: { text: string; matrix: QrMatrix | undefined } | undefined;
  /** KIOSK_TOUCH: buttons on screen, answered from the touchscreen. */
  private readonly touch: TouchControls | undefined;
  private lastView: View | undefined;
  /** Frames are drawn one at a time, whether a new view or a touch asked for them. */
  private drawing: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: DisplayDeps,
    private readonly options: FramebufferOptions = {},
  ) {
    const { config, actions } = deps;
    if (config.touch !== undefined && actions !== undefined)
      this.touch = new TouchControls({ ...deps, actions, config: { ...config, touch: config.touch } }, () => this.redraw());
  }

  async start(): Promise<void> {
    const target = await resolveTarget(this.deps.config.framebuffer, this.options.sysfsRoot);
    // Never O_CREAT on a device path: a missing /dev/fb0 is an error to retry, not a new file.
    const flags = constants.O_WRONLY | (target.create ? constants.O_CREAT : 0);
    this.file = await open(target.path, flags, 0o644);
    this.target = target;
    this.canvas = new Canvas(target.width, target.height);
    this.frames = [Buffer.alloc(frameSize(target)), Buffer.alloc(frameSize(target))];
    this.shown = undefined;
    this.touch?.start();
  }

  async render(view: View): Promise<void> {
    if (this.file === undefined) throw new Error('framebuffer display is not started');
    this.lastView = view;
    await this.queue(view);
  }

  private queue(view: View): Promise<void> {
    const next = this.drawing.then(() => (this.file === undefined ? undefined : this.draw(this.file, view)));
    this.drawing = next.catch(() => undefined);
    return next;
  }

  /** The last view again, with the buttons as a touch left them; a failure shows at the next render. */
  private redraw(): void {
    if (this.lastView !== undefined)
      this.queue(this.lastView).catch((e: unknown) => this.deps.log.debug({ display: this.name, err: messageOf(e) }, 'redraw after a touch failed'));
  }

  private async draw(file: FileHandle, view: View): Promise<void> {
    const { canvas, frames, target } = this;
    if (canvas === undefined || frames === undefined || target === undefined) return;
    const hits = paint(canvas, view, this.qrFor(view.qrText), this.touch?.ui(view));
    this.touch?.shown(hits, target.width, target.height);
    const frame = frames[0] === this.shown ? frames[1] : frames[0];
    encodeFrame(canvas, target, frame);
    if (this.shown?.equals(frame) === true) return;
    this.shown = undefined;
    let done = 0;
    while (done < frame.length) {
      const { bytesWritten } = await file.write(frame, done, frame.length - done, done);
      if (bytesWritten === 0) throw Object.assign(new Error(`short write to ${target.path}`), { code: 'EIO' });
      done += bytesWritten;
    }
    this.shown = frame;
  }

  /** The QR for `text`, encoded once per code; undefined when there is none or it cannot be encoded. */
  private qrFor(text: string | undefined): QrMatrix | undefined {
    if (text === undefined) return undefined;
    if (this.qr?.text !== text) {
      let matrix: QrMatrix | undefined;
      try {
        matrix = qrMatrix(text);
      } catch (e) {
        this.deps.log.warn({ display: this.name, err: messageOf(e) }, 'the verification URI does not fit in a QR code; showing text only');
      }
      this.qr = { text, matrix };
    }
    return this.qr.matrix;
  }

  /** Leaves a "Stopped" screen behind (best effort) and closes the device. */
  async stop(): Promise<void> {
    await this.touch?.stop();
    await this.drawing;
    const file = this.file;
    this.file = undefined;
    if (file === undefined) return;
    try {
      const now = this.deps.clock.now();
      await this.draw(file, toView({ state: 'stopped', since: now }, undefined, now, kioskLabel(this.deps.config), this.deps.config.timeZone));
    } catch (e) {
      this.deps.log.debug({ display: this.name, err: messageOf(e) }, 'could not draw the stopped screen');
    } finally {
      await file.close();
    }
  }
}

export const framebufferDisplay = (deps: DisplayDeps, options?: FramebufferOptions): Display => new FramebufferDisplay(deps, options);
