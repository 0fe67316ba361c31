import type { RequestEntry } from './types.js';

const MAX_ENTRIES = 10_000;

/** What clients called, in arrival order (the oldest entries are dropped beyond 10 000). */
export class RequestLog {
  private entries: RequestEntry[] = [];

  constructor(private readonly onDone?: (entry: Readonly<RequestEntry>) => void) {}

  /** Records a request as it arrives; the caller fills in the outcome and then calls `done`. */
  start(method: string, path: string, endpoint: RequestEntry['endpoint'], at = Date.now()): RequestEntry {
    const entry: RequestEntry = { at, method, path, endpoint, status: 0 };
    this.entries.push(entry);
    if (this.entries.length > MAX_ENTRIES) this.entries.splice(0, this.entries.length - MAX_ENTRIES);
    return entry;
  }

  done(entry: RequestEntry): void {
    this.onDone?.(entry);
  }

  list(): RequestEntry[] {
    return this.entries.map((e) => JSON.parse(JSON.stringify(e)) as RequestEntry);
  }

  clear(): void {
    this.entries = [];
  }
}
