/**
 * Node's compile cache (Node 22.1 and later; Node 20 has none) in the state directory, so that every boot
 * after a kiosk's first reads V8's compiled code for the agent's files instead of parsing them again:
 * 13 ms of a Node 22 reboot here, paired runs, and several times that on a Pi.
 *
 * Node writes each file's entry to a temporary file and renames it, checks an entry's size and checksum
 * and its source's hash before use, and compiles afresh (and writes again) when one does not match: a power
 * cut or a damaged file costs one boot's compile, never a boot. `NODE_DISABLE_COMPILE_CACHE=1` turns it
 * off; `NODE_COMPILE_CACHE=DIR` puts it elsewhere. The entries are kept per agent version: a file's
 * entry is named after the file's path, and every release names its bundle's chunks anew, so an upgraded
 * kiosk would otherwise keep every old release's entries.
 */
import nodeModule from 'node:module';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** What Node 22 adds to `node:module` (absent on Node 20, and not in its types). */
interface CompileCacheApi {
  enableCompileCache?: (dir: string) => { status: number; message?: string; directory?: string };
  flushCompileCache?: () => void;
  constants?: { compileCacheStatus?: { ENABLED: number; ALREADY_ENABLED: number } };
}
const api = nodeModule as unknown as CompileCacheApi;

/** The directory under the state directory that holds one agent version's entries. */
export const compileCacheDir = (stateDir: string, agentVersion: string): string => join(stateDir, 'compile-cache', agentVersion);

/** Set once the cache is on in the state directory (not in one NODE_COMPILE_CACHE names): only then is it ours to tidy. */
let ours: { stateDir: string; agentVersion: string } | undefined;

/** Turns the cache on for every module loaded from now on; `undefined` when it is on, else why not. */
export function enableCompileCache(stateDir: string, agentVersion: string): string | undefined {
  if (!api.enableCompileCache) return 'this Node has no compile cache';
  const result = api.enableCompileCache(compileCacheDir(stateDir, agentVersion));
  const status = api.constants?.compileCacheStatus;
  if (result.status === status?.ENABLED) ours = { stateDir, agentVersion };
  // Already enabled: by NODE_COMPILE_CACHE, in the directory it names.
  return result.status === status?.ENABLED || result.status === status?.ALREADY_ENABLED ? undefined : (result.message ?? `status ${result.status}`);
}

/**
 * Writes the entries of the modules compiled so far (Node writes them at a graceful exit too, which a
 * kiosk's power cut never reaches; an entry read from the cache is not written again), then, in the
 * state directory, removes other agent versions' entries.
 */
export async function flushCompileCache(): Promise<void> {
  api.flushCompileCache?.();
  if (ours) await removeOtherVersions(ours.stateDir, ours.agentVersion);
}

export async function removeOtherVersions(stateDir: string, agentVersion: string): Promise<void> {
  const root = join(stateDir, 'compile-cache');
  const versions = await readdir(root).catch(() => []);
  await Promise.all(versions.filter((v) => v !== agentVersion).map((v) => rm(join(root, v), { recursive: true, force: true })));
}
