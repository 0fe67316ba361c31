/** Errors carry the process exit code they lead to (CONTRACT §5); callers use `instanceof`, never message text. */
export class AgentError extends Error {
  readonly exitCode: number = 1;
}

/** Invalid configuration: every problem names the setting and the fix. Exit 78 (EX_CONFIG). */
export class ConfigError extends AgentError {
  override readonly exitCode = 78;
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

/** A transition the state machine does not allow: a bug, never user input. */
export class InvariantError extends AgentError {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantError';
  }
}

export const isErrno = (e: unknown, code: string): boolean =>
  e instanceof Error && (e as NodeJS.ErrnoException).code === code;

export const isENOENT = (e: unknown): boolean => isErrno(e, 'ENOENT');

/** The errno code (ENOSPC, EACCES…), else the error's name: safe to log, it carries no content. */
export const errnoCode = (e: unknown): string =>
  (e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' ? (e as NodeJS.ErrnoException).code : undefined) ??
  (e instanceof Error ? e.name : 'Error');

export const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));
