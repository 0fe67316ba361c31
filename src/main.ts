#!/usr/bin/env node
// First of all: stop signals are caught before anything else loads (CONTRACT §5).
import { onStopSignal, releaseStopSignals } from './signals.js';
import { closeSync, fstatSync } from 'node:fs';
import { parseInvocation, USAGE, version } from './cli.js';
import { describeConfig, loadConfig } from './config.js';
import type { LoadedConfig } from './config.js';
import { ConfigError, messageOf } from './errors.js';
import { DeferredLog } from './deferred-log.js';
import type { Logger } from './log.js';
import { enableCompileCache, flushCompileCache } from './compile-cache.js';

/** CONTRACT §5: a stop request ends the process within 5 s, whatever hangs. */
const STOP_DEADLINE_MS = 4_500;
/** The longest a crash waits for the log to write its last entries. */
const CRASH_WRITE_MS = 1_000;
/** After the boot's last modules load (MSAL and pino, within a second of `afterBoot`), their compiled code is saved. */
const COMPILE_CACHE_FLUSH_MS = 5_000;

function fail(message: string, code: number): never {
  process.stderr.write(`kiosk-agent: ${message}\n`);
  process.exit(code);
}

function configure(configFile: string | undefined): LoadedConfig {
  try {
    return loadConfig({ file: configFile });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const problem of e.problems) process.stderr.write(`kiosk-agent: invalid configuration: ${problem}\n`);
    process.exit(e.exitCode);
  }
}

async function run(loaded: LoadedConfig): Promise<void> {
  const { stateDir } = loaded.config;
  // Before any of the agent's chunks is compiled (src/compile-cache.ts).
  const noCompileCache = enableCompileCache(stateDir, version());
  // The provider's discovery request goes out first, its answer arriving while MSAL loads (or none is
  // needed: a fresh saved document).
  const early = (await import('./auth/early-provider.js')).startProviderEarly(loaded.config);
  // Node opens a request's connection in a later tick, and Node 22 loads an ES module without giving
  // ticks a turn: one turn now puts the connections' first packets on the wire while the agent loads.
  await new Promise((resolve) => setImmediate(resolve));
  // Each command loads only what it runs: `health` every 30 s in a container must stay cheap.
  const { Agent } = await import('./agent.js');
  // pino loads once the first frame is drawn and on MQTT; what is logged before waits for it (deferred-log.ts).
  const deferred = new DeferredLog(loaded.config.logLevel, async (now) => (await import('./log.js')).createLogger(loaded.config.logLevel, undefined, now));
  const { log } = deferred;
  const exit = (code: number): void => deferred.written(() => process.exit(code));
  for (const warning of loaded.warnings) log.warn(warning);
  if (noCompileCache) log.debug({ reason: noCompileCache }, 'no compile cache');
  process.on('uncaughtException', (e) => crash(log, e, exit));
  process.on('unhandledRejection', (e) => crash(log, e, exit));
  // A closed stdout (EPIPE: the reader of a pipe went away) is the terminal display's failure, which it
  // reports and retries; it must never reach `uncaughtException`, whenever the error arrives.
  process.stdout.on('error', () => undefined);

  const startLog = (): void => void deferred.load().catch((e: unknown) => fail(`the log could not start: ${messageOf(e)}`, 1));
  const afterBoot = (): void => {
    startLog();
    setTimeout(() => {
      flushCompileCache().catch((e: unknown) => log.warn({ err: e }, 'the compile cache could not be saved'));
    }, COMPILE_CACHE_FLUSH_MS).unref();
  };
  const agent = new Agent({ config: loaded.config, log, version: version(), early, afterBoot });
  let stopping = false;
  onStopSignal((signal) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    setTimeout(() => {
      log.error('graceful stop took too long; exiting');
      exit(1);
    }, STOP_DEADLINE_MS).unref();
    agent.stop().then(
      () => {
        // After a hang-up the terminal is gone (isatty says no more), and Node 20 aborts at exit when it cannot
        // restore it (a check later Node releases dropped): close stdio devices first. The agent never changes their modes.
        if (signal === 'SIGHUP') closeStdioDevices();
        exit(0);
      },
      (e: unknown) => crash(log, e, exit),
    );
  });
  // A signal during start-up has stopped the agent before it started anything.
  if (stopping) return;
  log.info({ version: version(), device_id: loaded.config.deviceId }, 'kiosk-agent starting');
  await agent.start().catch((e: unknown) => crash(log, e, exit));
}

function closeStdioDevices(): void {
  for (const fd of [0, 1, 2]) {
    try {
      if (fstatSync(fd).isCharacterDevice()) closeSync(fd);
    } catch {
      // already closed
    }
  }
}

/** Exits 1 once the failure is written (within CRASH_WRITE_MS if the log is still loading). */
function crash(log: Logger, e: unknown, exit: (code: number) => void): void {
  log.fatal({ err: e }, 'unexpected failure');
  setTimeout(() => process.exit(1), CRASH_WRITE_MS).unref();
  exit(1);
}

async function main(): Promise<void> {
  let invocation;
  try {
    invocation = parseInvocation(process.argv.slice(2));
  } catch (e) {
    fail(`${messageOf(e)}\n${USAGE}`, 78);
  }
  if (invocation.command !== 'run') releaseStopSignals();
  switch (invocation.command) {
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    case 'version':
      process.stdout.write(`${version()}\n`);
      return;
    case 'config': {
      const loaded = configure(invocation.configFile);
      for (const warning of loaded.warnings) process.stderr.write(`kiosk-agent: warning: ${warning}\n`);
      process.stdout.write(`${JSON.stringify(describeConfig(loaded.values), null, 2)}\n`);
      return;
    }
    case 'health': {
      if ((await import('./pid-one.js')).pidOneRunsWatch())
        return void process.stdout.write('healthy (kiosk-agent watch: no agent here to check; it keeps no status)\n');
      const { checkHealth, healthNotes } = await import('./health.js');
      const { stateDir } = configure(invocation.configFile).config;
      const problems = await checkHealth(stateDir);
      if (problems.length === 0) return void process.stdout.write(['healthy', ...(await healthNotes(stateDir))].join('\n') + '\n');
      fail(`unhealthy: ${problems.join('; ')}`, 1);
      break;
    }
    case 'watch': {
      const { runWatch, watchSettings } = await import('./mqtt/watch.js');
      let mqtt;
      try {
        mqtt = watchSettings(process.env, { url: invocation.url, prefix: invocation.prefix });
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        fail(`invalid configuration: ${e.problems.join('; ')}`, e.exitCode);
      }
      return runWatch({ mqtt, json: invocation.json === true, out: process.stdout });
    }
    case 'run':
      return run(configure(invocation.configFile));
  }
}

main().catch((e: unknown) => fail(`unexpected failure: ${messageOf(e)}`, 1));
