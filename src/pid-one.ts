import { readFileSync } from 'node:fs';

/**
 * True when PID 1 of this PID namespace (a container's) runs `kiosk-agent watch`. The image's HEALTHCHECK
 * is `kiosk-agent health`, which checks a running agent; a container running the operator's watch instead
 * has no agent, no status file and no settings of an agent, so health answers for it without a check of its
 * own (CONTRACT §5). Outside a container PID 1 is the init system and this is false.
 */
export function pidOneRunsWatch(read: (path: string) => string = (path) => readFileSync(path, 'utf8')): boolean {
  let argv: string[];
  try {
    argv = read('/proc/1/cmdline').split('\0').filter(Boolean);
  } catch {
    return false;
  }
  const entry = argv.findIndex((a) => /(^|\/)kiosk-agent$|(^|\/)dist\/main\.js$/.test(a));
  return entry >= 0 && argv[entry + 1] === 'watch';
}
