/**
 * CONTRACT §5: a stop signal is a graceful stop from the agent's first line on. `main.ts` imports this module
 * first, so the handlers are in place before anything slow loads; a signal that arrives before the agent
 * exists waits here for it. SIGHUP (a closed terminal or session, or a supervisor's reload) stops the agent
 * like SIGTERM: it has no configuration to reload, and the default would end it with nothing published.
 */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

let pending: NodeJS.Signals | undefined;
let stop: ((signal: NodeJS.Signals) => void) | undefined;

const onSignal = (signal: NodeJS.Signals): void => {
  if (stop) stop(signal);
  else pending ??= signal;
};
for (const signal of STOP_SIGNALS) process.on(signal, onSignal);

/** From now on stop signals call `handler`; one that came earlier calls it at once. */
export function onStopSignal(handler: (signal: NodeJS.Signals) => void): void {
  stop = handler;
  if (pending !== undefined) handler(pending);
}

/** For the short commands (`health`, `config`, `watch`…): signals act as they do by default, an earlier one now. */
export function releaseStopSignals(): void {
  for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  if (pending !== undefined) process.kill(process.pid, pending);
}
