/**
 * One agent of `npm run bench:token`, configured from the KIOSK_* variables of its environment. The
 * token endpoint's rate and connection limits are lifted: the benchmark measures what the endpoint can
 * do, not its policy. Over IPC it reports every state, and answers `measure` with its RSS and heap after a GC.
 */
import pino from 'pino';
import { Agent } from '../src/agent.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';

export type ToTokenWorker = { type: 'measure' } | { type: 'stop' };
export type FromTokenWorker = { type: 'state'; state: string } | { type: 'rss'; rss: number; heap: number };

const send = (m: FromTokenWorker): void => void process.send?.(m);
// Logged as in production (info, one line per token handed out), into nothing: the cost stays, the noise goes.
const log = createLogger(process.env.KIOSK_LOG_LEVEL ?? 'info', pino.destination({ dest: '/dev/null', sync: true }));
const agent = new Agent({
  config: loadConfig().config,
  log,
  version: 'bench',
  tokenEndpointLimits: { burst: 1e9, perSecond: 1e9, maxConnections: 1_024 },
});
agent.machine.on('state', (s) => send({ type: 'state', state: s.state }));
process.on('message', (m: ToTokenWorker) => {
  if (m.type === 'measure') {
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    send({ type: 'rss', rss: m.rss, heap: m.heapUsed });
  } else {
    void agent.stop().then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
await agent.start();
