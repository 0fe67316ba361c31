import { readFile, realpath } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Config } from '../config.js';
import { AgentError, isENOENT } from '../errors.js';
import type { Bpp, FbLayout } from './fb-pixels.js';

/** A framebuffer the agent cannot draw on as configured (not an fbdev device, odd geometry, unsupported depth). */
export class FramebufferError extends AgentError {
  constructor(message: string) {
    super(message);
    this.name = 'FramebufferError';
  }
}

/** Where to draw and how the frame lies there. */
export interface FbTarget extends FbLayout {
  readonly path: string;
  /** A plain file named with KIOSK_FRAMEBUFFER_GEOMETRY may be created; a device never is. */
  readonly create: boolean;
}

const DEPTHS: readonly number[] = [16, 24, 32];

/**
 * The target for `KIOSK_FRAMEBUFFER`: with `KIOSK_FRAMEBUFFER_GEOMETRY` that geometry and packed
 * rows; otherwise the device must be an fbdev node `fbN` (symlinks are followed) whose geometry,
 * depth and stride come from `<sysfsRoot>/class/graphics/fbN/`. A missing device rejects with
 * ENOENT, so the display manager logs it and retries.
 */
export async function resolveTarget(fb: Config['framebuffer'], sysfsRoot = '/sys'): Promise<FbTarget> {
  if (fb.geometry !== undefined) {
    const { width, height, bpp } = fb.geometry;
    return { path: fb.path, width, height, bpp, stride: (width * bpp) / 8, create: !fb.path.startsWith('/dev/') };
  }
  const name = basename(await realpath(fb.path));
  if (!/^fb\d+$/.test(name))
    throw new FramebufferError(`${fb.path} is not a framebuffer device (fbN); for a plain file set KIOSK_FRAMEBUFFER_GEOMETRY=WIDTHxHEIGHTxBPP`);
  const dir = join(sysfsRoot, 'class', 'graphics', name);
  const read = async (file: string): Promise<string | undefined> => {
    try {
      return (await readFile(join(dir, file), 'utf8')).trim();
    } catch (e) {
      if (isENOENT(e)) return undefined;
      throw e;
    }
  };
  const [size, depth, strideText, modes] = await Promise.all([read('virtual_size'), read('bits_per_pixel'), read('stride'), read('modes')]);
  const virtual = /^(\d+),(\d+)$/.exec(size ?? '');
  if (virtual === null) throw new FramebufferError(`${dir}/virtual_size: expected "WIDTH,HEIGHT", found ${JSON.stringify(size ?? null)}`);
  const bpp = Number(depth);
  if (!DEPTHS.includes(bpp))
    throw new FramebufferError(`${dir}/bits_per_pixel: ${JSON.stringify(depth ?? null)} is not supported; use 16, 24 or 32 bpp`);
  let width = Number(virtual[1]);
  let height = Number(virtual[2]);
  // The virtual screen may be taller than the visible mode (room for panning); draw what is seen.
  const mode = /^[A-Za-z]*:?(\d+)x(\d+)/.exec(modes?.split('\n')[0] ?? '');
  if (mode !== null && Number(mode[1]) <= width && Number(mode[2]) <= height) {
    width = Number(mode[1]);
    height = Number(mode[2]);
  }
  const packed = (Number(virtual[1]) * bpp) / 8;
  // Old kernels have no stride file, and a driver may report 0: rows are then packed.
  const stride = strideText === undefined || Number(strideText) === 0 ? packed : Number(strideText);
  if (!Number.isInteger(stride) || stride < (width * bpp) / 8)
    throw new FramebufferError(`${dir}/stride: ${strideText} is less than a row of ${width} pixels at ${bpp} bpp`);
  if (width < 1 || height < 1) throw new FramebufferError(`${dir}/virtual_size: ${size} has no pixels`);
  return { path: fb.path, width, height, bpp: bpp as Bpp, stride, create: false };
}
