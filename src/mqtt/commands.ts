import { systemClock } from '../clock.js';
import type { Clock } from '../clock.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import type { AgentState, Snapshot } from '../state.js';
import { fail, responsePayload, statePayload } from './payloads.js';
import type { AgentInfo, CommandOutcome } from './payloads.js';
import { TokenBucket } from './token-bucket.js';
import { COMMAND_NAMES } from './topics.js';
import type { CommandName, Topics } from './topics.js';

/** What the agent lets an operator do: the boundary between MQTT and sign-in (`Agent.operations`). */
export interface Operations {
  refresh(): Promise<string>;
  signOut(): Promise<void>;
  restartSignIn(): void;
}

export interface CommandLimits {
  /** Larger request bodies are refused unread. */
  readonly maxPayloadBytes: number;
  /** Token bucket: this many commands at once, then `perSecond`. */
  readonly burst: number;
  readonly perSecond: number;
  /** A command still running after this is answered with `timeout`. */
  readonly timeoutMs: number;
}

export const DEFAULT_COMMAND_LIMITS: CommandLimits = { maxPayloadBytes: 4_096, burst: 10, perSecond: 1, timeoutMs: 30_000 };

interface Context {
  readonly snapshot: Snapshot;
  readonly operations: Operations;
  readonly agent: AgentInfo;
}

const ok = (data?: unknown): CommandOutcome => ({ status: 'ok', data });
const REFRESH_ERRORS: Readonly<Record<string, string>> = {
  not_signed_in: 'the kiosk is not signed in; nothing to refresh',
  network: 'the identity provider could not be reached; the agent keeps retrying',
  interaction_required: 'the cached sign-in is no longer valid; the kiosk shows a new code',
  expired: 'the cached sign-in has expired; the kiosk shows a new code',
  fatal: 'the identity provider refused the refresh; see the state for the error',
  cancelled: 'the refresh was cancelled by another operation',
};
const RESTARTABLE: readonly AgentState[] = ['awaiting_sign_in', 'offline', 'error'];

/** CONTRACT §2 commands, one entry each; a handler checks the state it needs and never throws on purpose. */
export const COMMANDS: Readonly<Record<CommandName, (c: Context) => Promise<CommandOutcome>>> = {
  refresh: async ({ operations }) => {
    const result = await operations.refresh();
    return result === 'ok' ? ok({ result }) : fail(result, REFRESH_ERRORS[result] ?? `refresh ended with ${result}`);
  },
  sign_out: async ({ snapshot, operations }) => {
    if (snapshot.account === undefined) return fail('not_signed_in', `no account to sign out in state ${snapshot.state}`);
    await operations.signOut();
    return ok();
  },
  restart_sign_in: async ({ snapshot, operations }) => {
    if (!RESTARTABLE.includes(snapshot.state))
      return fail('wrong_state', `restart_sign_in works in ${RESTARTABLE.join(', ')}, not ${snapshot.state}; use sign_out to end a sign-in`);
    operations.restartSignIn();
    return ok();
  },
  status: async ({ snapshot, agent }) => ok(statePayload(snapshot, agent)),
};

/** One request as it arrived: the body and, with MQTT 5, where and how to answer as well. */
export interface RequestPacket {
  readonly payload: Buffer;
  readonly properties?: { readonly responseTopic?: string; readonly correlationData?: Buffer };
}

export interface CommandDeps {
  readonly topics: Topics;
  readonly snapshot: () => Snapshot;
  readonly operations: Operations;
  readonly agent: AgentInfo;
  readonly log: Logger;
  readonly now: () => number;
  /** Times the command timeout (default: the system's). */
  readonly clock?: Clock;
  readonly limits?: Partial<CommandLimits>;
  /** Publishes one response (non-retained); MQTT 5 correlation data rides along when given. */
  readonly respond: (topic: string, payload: string, qos: 0 | 1, correlationData?: Buffer) => void;
}

/**
 * Answers `request/<command>` on `response/<command>` (and on an MQTT 5 response topic). Every
 * bad request gets an error response and a log line; nothing here throws into the MQTT client.
 */
export class CommandHandler {
  private readonly limits: CommandLimits;
  private readonly bucket: TokenBucket;
  private readonly log: Logger;
  private limitedLoggedAt = -Infinity;
  private limitedCount = 0;

  constructor(private readonly d: CommandDeps) {
    this.limits = { ...DEFAULT_COMMAND_LIMITS, ...d.limits };
    this.bucket = new TokenBucket(this.limits.burst, this.limits.perSecond, d.now);
    this.log = d.log.child({ module: 'mqtt-commands' });
  }

  /** Handles one request; resolves when it has been answered. */
  async handle(command: string, packet: RequestPacket): Promise<void> {
    const reply = (outcome: CommandOutcome, transaction?: string | number): void => this.reply(command, packet, outcome, transaction);
    if (!this.bucket.take()) return this.limited(command, reply);
    const size = packet.payload.length;
    if (size > this.limits.maxPayloadBytes)
      return this.reject(command, reply, fail('too_large', `request body is ${size} bytes; the limit is ${this.limits.maxPayloadBytes}`));
    if (!(COMMAND_NAMES as readonly string[]).includes(command))
      return this.reject(command, reply, fail('unknown_command', `unknown command; use one of ${COMMAND_NAMES.join(', ')}`));
    const body = parseBody(packet.payload);
    if ('error' in body) return this.reject(command, reply, body.error);
    // Answers go nowhere else: a response topic on the kiosk's own request, state or claims topics, or in
    // another device's subtree, would let a read-only `status` act as any command or forge any message.
    const responseTopic = packet.properties?.responseTopic;
    if (responseTopic !== undefined && !this.d.topics.isOwnResponseTopic(responseTopic)) {
      const under = this.d.topics.response('');
      const refusal = fail('bad_response_topic', `the MQTT 5 response topic must lie under ${under}, e.g. ${under}${command}/my-client; not run`);
      return this.reject(command, (o) => reply(o, body.transaction), refusal);
    }
    const name = command as CommandName;
    const snapshot = this.d.snapshot();
    const outcome =
      snapshot.state === 'stopped'
        ? fail('stopped', 'the agent is stopping')
        : await this.run(name, { snapshot, operations: this.d.operations, agent: this.d.agent });
    if (outcome.status === 'error') this.log.warn({ command: name, error: outcome.error.code }, 'command failed');
    else this.log.info({ command: name }, 'command done');
    reply(outcome, body.transaction);
  }

  private async run(name: CommandName, context: Context): Promise<CommandOutcome> {
    const clock = this.d.clock ?? systemClock;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<CommandOutcome>((resolve) => {
      timer = clock.setTimeout(() => resolve(fail('timeout', `no result within ${this.limits.timeoutMs} ms`)), this.limits.timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([COMMANDS[name](context), timeout]);
    } catch (e) {
      return fail('failed', messageOf(e).trim() || 'the command failed without saying why');
    } finally {
      clock.clearTimeout(timer);
    }
  }

  private reject(command: string, reply: (o: CommandOutcome) => void, outcome: CommandOutcome): void {
    if (outcome.status === 'error') this.log.warn({ command: command.slice(0, 64), error: outcome.error.code }, 'command rejected');
    reply(outcome);
  }

  /** Refused for the flood: answered cheaply (QoS 0), logged at most once a second with a count. */
  private limited(command: string, reply: (o: CommandOutcome) => void): void {
    this.limitedCount += 1;
    const now = this.d.now();
    if (now - this.limitedLoggedAt >= 1_000) {
      this.log.warn({ command: command.slice(0, 64), refused: this.limitedCount }, 'commands rate-limited');
      this.limitedLoggedAt = now;
      this.limitedCount = 0;
    }
    reply(fail('rate_limited', `too many commands; at most ${this.limits.burst} at once and ${this.limits.perSecond} a second`));
  }

  private reply(command: string, packet: RequestPacket, outcome: CommandOutcome, transaction?: string | number): void {
    const payload = JSON.stringify(responsePayload(outcome, transaction));
    const qos = outcome.status === 'error' && outcome.error.code === 'rate_limited' ? 0 : 1;
    this.d.respond(this.d.topics.response(command), payload, qos);
    const responseTopic = packet.properties?.responseTopic;
    if (responseTopic === undefined) return;
    if (this.d.topics.isOwnResponseTopic(responseTopic)) this.d.respond(responseTopic, payload, qos, packet.properties?.correlationData);
    else this.log.warn({ command: command.slice(0, 64) }, 'request has a response topic outside this kiosk\'s response/; answered on the response topic only');
  }
}

type Body = { transaction?: string | number } | { error: CommandOutcome };

/** An empty body is `{}`; otherwise a JSON object whose optional `transaction` is a short string or a number. */
function parseBody(payload: Buffer): Body {
  const text = payload.toString('utf8');
  if (text.trim() === '') return {};
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { error: fail('bad_json', 'the request body is not JSON; send {} or {"transaction":"…"}') };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    return { error: fail('bad_request', 'the request body must be a JSON object, e.g. {"transaction":"t1"}') };
  const { transaction } = data as { transaction?: unknown };
  if (transaction === undefined) return {};
  if ((typeof transaction === 'string' && transaction.length <= 256) || (typeof transaction === 'number' && Number.isFinite(transaction)))
    return { transaction };
  return { error: fail('bad_request', 'transaction must be a string of at most 256 characters or a number') };
}
