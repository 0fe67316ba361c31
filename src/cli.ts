import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export type Command = 'run' | 'health' | 'config' | 'help' | 'version';

export interface Invocation {
  readonly command: Command;
  readonly configFile?: string;
}

export const USAGE = `Usage: kiosk-agent [command] [--config file.json]

Signs a headless kiosk in with the device-code flow, shows the code and QR, keeps it signed in.

Commands:
  run        run the agent (the default)
  health     exit 0 when the running agent is healthy, 1 when not (for a container HEALTHCHECK)
  config     check the configuration and print the effective values, secrets masked

Options:
  --config FILE   read settings from a JSON file of KIOSK_* keys (environment variables win)
  -h, --help      show this help
  -v, --version   show the version

Settings are environment variables (KIOSK_*; each also as KIOSK_*_FILE): see README.md.
Exit codes: 0 stopped gracefully, 78 invalid configuration, 1 anything unexpected.`;

/** Throws a plain Error with a usage hint for anything it does not understand. */
export function parseInvocation(argv: readonly string[]): Invocation {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.help) return { command: 'help' };
  if (values.version) return { command: 'version' };
  if (positionals.length > 1) throw new Error(`unexpected argument "${positionals[1]}"`);
  const command = positionals[0] ?? 'run';
  if (!['run', 'health', 'config'].includes(command)) throw new Error(`unknown command "${command}"`);
  return { command: command as Command, configFile: values.config };
}

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
