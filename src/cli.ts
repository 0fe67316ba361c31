import { parseArgs } from 'node:util';
// Inlined by the bundler, so `dist/` needs no package.json beside it to know its version.
import pkg from '../package.json' with { type: 'json' };
import { settingsHelp } from './settings-doc.js';

export type Command = 'run' | 'health' | 'config' | 'watch' | 'help' | 'version';

export interface Invocation {
  readonly command: Command;
  readonly configFile?: string;
  /** `watch` only: JSON lines instead of a table, and the broker to read. */
  readonly json?: boolean;
  readonly url?: string;
  readonly prefix?: string;
}

export const USAGE = `Usage: kiosk-agent [command] [--config file.json]

Signs a headless kiosk in with the device-code flow, shows the code and QR, keeps it signed in.

Commands:
  run        run the agent (the default)
  health     exit 0 when the running agent is healthy, 1 when not (for a container HEALTHCHECK)
  config     check the configuration and print the effective values, secrets masked
  watch      live view of every kiosk on the broker (read only); --json, --url URL, --prefix P

Options:
  --config FILE   read settings from a JSON file of KIOSK_* keys (environment variables win)
  -h, --help      show this help
  -v, --version   show the version

Exit codes: 0 stopped gracefully, 78 invalid configuration, 1 anything unexpected.

Settings are environment variables (KIOSK_*; each also as KIOSK_*_FILE), explained in README.md:

${settingsHelp()}`;

/** Throws a plain Error with a usage hint for anything it does not understand. */
export function parseInvocation(argv: readonly string[]): Invocation {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      json: { type: 'boolean' },
      url: { type: 'string' },
      prefix: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.help) return { command: 'help' };
  if (values.version) return { command: 'version' };
  if (positionals.length > 1) throw new Error(`unexpected argument "${positionals[1]}"`);
  const command = positionals[0] ?? 'run';
  if (!['run', 'health', 'config', 'watch'].includes(command)) throw new Error(`unknown command "${command}"`);
  if (command !== 'watch' && (values.json || values.url || values.prefix)) throw new Error('--json, --url and --prefix go with the watch command');
  return { command: command as Command, configFile: values.config, json: values.json, url: values.url, prefix: values.prefix };
}

export function version(): string {
  return pkg.version;
}
