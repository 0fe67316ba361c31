import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import type { Clock } from '../clock.js';

/**
 * A Linux touchscreen read as evdev input events (`/dev/input/eventN`) in plain JavaScript, no native
 * addon: `struct input_event` is a `struct timeval` (two longs: 16 bytes on a 64-bit kernel, 8 on a
 * 32-bit one) then `__u16 type, __u16 code, __s32 value`, little-endian on the boards the agent runs
 * on. A tap is the last position reported (single-touch ABS_X/ABS_Y or multi-touch
 * ABS_MT_POSITION_X/Y) when BTN_TOUCH goes up, at the SYN_REPORT that ends that report.
 *
 * The device is opened non-blocking and polled: a blocking read would hold one of libuv's few pool
 * threads for as long as nobody touches the screen, and could not be cut short at shutdown. A FIFO or
 * a plain file works the same way (the tests write events into one).
 */

const EV_SYN = 0;
const EV_KEY = 1;
const EV_ABS = 3;
const SYN_REPORT = 0;
const BTN_TOUCH = 0x14a;
const ABS_X = 0x00;
const ABS_Y = 0x01;
const ABS_MT_POSITION_X = 0x35;
const ABS_MT_POSITION_Y = 0x36;

/** Bytes of one input event: the kernel's `long` is the platform's word. */
export const EVENT_BYTES = ['arm', 'ia32', 'mips', 'mipsel', 'ppc'].includes(process.arch) ? 16 : 24;
/** How often the device is asked for new events: a tap is answered within a frame or two. */
const POLL_MS = 40;
const EVENTS_PER_READ = 64;

/** A tap, in the touchscreen's own coordinates. */
export interface Tap {
  readonly x: number;
  readonly y: number;
}

/** Turns a stream of input events into taps; bytes may arrive in any pieces. */
export class TapParser {
  private rest = Buffer.alloc(0);
  private x = 0;
  private y = 0;
  private released = false;

  constructor(private readonly onTap: (tap: Tap) => void, private readonly eventBytes = EVENT_BYTES) {}

  push(bytes: Buffer): void {
    const data = this.rest.length === 0 ? bytes : Buffer.concat([this.rest, bytes]);
    const whole = data.length - (data.length % this.eventBytes);
    for (let at = 0; at < whole; at += this.eventBytes) {
      const end = at + this.eventBytes;
      this.event(data.readUInt16LE(end - 8), data.readUInt16LE(end - 6), data.readInt32LE(end - 4));
    }
    this.rest = Buffer.from(data.subarray(whole));
  }

  private event(type: number, code: number, value: number): void {
    if (type === EV_ABS && (code === ABS_X || code === ABS_MT_POSITION_X)) this.x = value;
    else if (type === EV_ABS && (code === ABS_Y || code === ABS_MT_POSITION_Y)) this.y = value;
    else if (type === EV_KEY && code === BTN_TOUCH && value === 0) this.released = true;
    else if (type === EV_SYN && code === SYN_REPORT && this.released) {
      this.released = false;
      this.onTap({ x: this.x, y: this.y });
    }
  }
}

/** One input event as the kernel writes it (for tests and tools). */
export function inputEvent(type: number, code: number, value: number, eventBytes = EVENT_BYTES): Buffer {
  const b = Buffer.alloc(eventBytes);
  b.writeUInt16LE(type, eventBytes - 8);
  b.writeUInt16LE(code, eventBytes - 6);
  b.writeInt32LE(value, eventBytes - 4);
  return b;
}

/** The events of one tap at x, y, as a touchscreen reports it (multi-touch and single-touch axes, touch down, up). */
export function tapEvents(x: number, y: number, eventBytes = EVENT_BYTES): Buffer {
  const e = (type: number, code: number, value: number): Buffer => inputEvent(type, code, value, eventBytes);
  return Buffer.concat([
    e(EV_ABS, ABS_MT_POSITION_X, x), e(EV_ABS, ABS_MT_POSITION_Y, y), e(EV_KEY, BTN_TOUCH, 1), e(EV_ABS, ABS_X, x), e(EV_ABS, ABS_Y, y),
    e(EV_SYN, SYN_REPORT, 0), e(EV_KEY, BTN_TOUCH, 0), e(EV_SYN, SYN_REPORT, 0),
  ]);
}

/** Reads taps from `path` until stopped; `start` throws when the device cannot be opened (missing, no permission). */
export class TouchReader {
  private file: FileHandle | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly parser: TapParser;
  private readonly buffer = Buffer.alloc(EVENT_BYTES * EVENTS_PER_READ);

  constructor(
    private readonly path: string,
    onTap: (tap: Tap) => void,
    private readonly clock: Clock,
    private readonly onError: (e: unknown) => void,
  ) {
    this.parser = new TapParser(onTap);
  }

  async start(): Promise<void> {
    // Never O_CREAT: a missing device is an error worth a retry, not a new file in /dev/input.
    this.file = await open(this.path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    this.schedule();
  }

  private schedule(): void {
    this.timer = this.clock.setTimeout(() => void this.poll(), POLL_MS);
    this.timer.unref?.();
  }

  private async poll(): Promise<void> {
    const file = this.file;
    if (file === undefined) return;
    try {
      for (;;) {
        const { bytesRead } = await file.read(this.buffer, 0, this.buffer.length, null);
        // 0: a FIFO with no writer, or the end of a plain file; more may come later.
        if (bytesRead === 0) break;
        this.parser.push(this.buffer.subarray(0, bytesRead));
        if (bytesRead < this.buffer.length) break;
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') {
        // The device went away (ENODEV when unplugged): report it, read no more.
        await this.stop();
        return this.onError(e);
      }
    }
    if (this.file === file) this.schedule();
  }

  async stop(): Promise<void> {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const file = this.file;
    this.file = undefined;
    await file?.close();
  }
}
