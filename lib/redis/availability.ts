import type Redis from 'ioredis';
import { describeError, SyncMachineError } from '../errors';
import type { Logger } from '../logger';

/** Redis is down (or went down while the work ran): the work was not confirmed done. */
export class RedisUnavailableError extends SyncMachineError {
  /** `sent`: the work was under way when Redis went down (its commands may yet run), not refused before it began. */
  constructor(message: string, readonly sent = false, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A call's Redis work waited `ms` on a Redis that then did not answer a PING either (SyncMachines.patiently). */
export class RedisSilentError extends Error {
  constructor(readonly ms: number, readonly connected: boolean) {
    super(`Redis did not answer within ${ms} ms`);
    this.name = 'RedisSilentError';
  }
}

/**
 * A call of the API that Redis did not answer, said with Redis' address, what the call left undone and the fix;
 * any other error as it is. ioredis' own (`MaxRetriesPerRequestError: Reached the max retries per request limit`,
 * after about 5 s) named neither the address nor what to do (a trial, for status, notifyChanged, resync).
 */
export function unanswered(error: unknown, call: string, redisAt: string, undone: string): unknown {
  if (error instanceof RedisSilentError) {
    const why = error.connected
      ? `for ${error.ms / 1000} s, with its connection open: a stopped process, or a network that drops packets?`
      : `for ${error.ms / 1000} s, and is not connected`;
    return new RedisUnavailableError(`${call}: Redis at ${redisAt} did not answer (${why}): ${undone}. ` +
      'Start Redis or fix the `redis` option, then call it again.', true, { cause: error });
  }
  const refused = writesRefused(error);
  if (refused) {
    // A trial's resync printed a bare "OOM command not allowed …" after 4,000 of 20,001, naming neither what was
    // recorded nor the fix.
    return new RedisUnavailableError(`${call}: Redis at ${redisAt} refused a write (${describeError(error).replace(/\.+$/, '')}): ` +
      `${refused}. ${undone[0].toUpperCase()}${undone.slice(1)}; call it again then.`, false, { cause: error });
  }
  const { name, message } = (error ?? {}) as { name?: string; message?: string };
  // ioredis' own errors only: a database driver's ECONNREFUSED (resync pages the rows) is not Redis'.
  if (name !== 'MaxRetriesPerRequestError' && !/^Connection is closed\.?$|Stream isn't writeable/.test(message ?? '')) return error;
  const why = name === 'MaxRetriesPerRequestError' ? 'not connected; ioredis gave up after its maxRetriesPerRequest tries' : describeError(error);
  return new RedisUnavailableError(`${call}: Redis at ${redisAt} did not answer (${why}): ${undone}. ` +
    'Start Redis or fix the `redis` option, then call it again.', true, { cause: error });
}

/**
 * What to do about a Redis that answers but refuses writes, or undefined for any other error: at its maxmemory
 * (OOM), or a read-only replica (a failover that left the address on one). A MULTI with such a command fails as a
 * whole (EXECABORT), its cause in `previousErrors`. A trial's Redis at maxmemory was told only by its reply, on one line
 * per commit from capture, and again at every refused stall check from the worker's queues.
 */
export function writesRefused(error: unknown): string | undefined {
  const causes = [error, ...((error as { previousErrors?: unknown[] } | undefined)?.previousErrors ?? [])];
  const said = causes.map((e) => (e as { message?: unknown } | undefined)?.message).filter((m): m is string => typeof m === 'string');
  if (said.some((m) => /^OOM\b/.test(m))) {
    return 'Redis is at its maxmemory and refuses writes: raise maxmemory (CONFIG SET maxmemory, and in redis.conf) or free ' +
      "memory, and keep maxmemory-policy noeviction (an evicting policy would drop sync-machine's keys without a word)";
  }
  if (said.some((m) => /^READONLY\b/.test(m))) return 'this Redis is a read-only replica: point the `redis` option at the primary';
  return undefined;
}

/** Names kept per outage for the "back" summary; beyond this only the count grows (a long outage must not eat memory). */
export const MAX_DROPPED_NAMES = 10_000;
/** Ids named per entity in that line: a trial's line held 5,000 (25 KB), more than log shippers keep. */
const IDS_SHOWN = 50;

/** Changes of an outage of one kind: entity name to ids, in the order they were first recorded, and their count. */
interface Changes {
  ids: Map<string, Set<string>>;
  /** Repeats of one row included. */
  total: number;
}

interface Outage {
  since: number;
  /** Refused while Redis was down: never sent. */
  dropped: Changes;
  /**
   * Being enqueued when the connection broke (or Redis stopped answering): not confirmed, and ioredis sends commands
   * it had written again once it reconnects, so they may be recorded after all (a trial's log called 19 changes
   * dropped that were all published).
   */
  unconfirmed: Changes;
  names: number;
  /** Changes of entities not named because the lists were full. */
  unnamed: number;
}

/**
 * Knows whether Redis answers, from one ioredis client's connection state and from guarded work that waits too
 * long, so that capture can fail fast: while it is down a write waits for nothing, and the changes it drops are
 * collected and logged by name once per outage, when Redis is back (or at close). One line says it went down, one
 * says it is back.
 *
 * It reads `status` and the `close`/`ready` events of the client it is given. It sends one command only when Redis
 * stopped answering on an open connection (a stopped process, a network that drops packets: the connection stays
 * `ready` until TCP gives up, minutes later): a PING, whose answer says that Redis works again.
 */
export class RedisAvailability {
  private outage?: Outage;
  private readonly inFlight = new Set<(error: Error) => void>();
  private closed = false;
  /** False from guarded work that waited past its timeout until Redis answers again. */
  private answering = true;
  private readonly onClose = () => this.wentDown();
  private readonly onReady = () => this.cameBack();

  /** `outbox`: changes wait in the outbox while Redis is down (capture: 'outbox'), so the log says that. */
  constructor(
    private readonly client: Redis, private readonly logger: Logger, private readonly describe: string, private readonly outbox = false,
  ) {
    client.on('close', this.onClose);
    client.on('ready', this.onReady);
    if (client.status !== 'ready') this.wentDown();
  }

  /** True while the connection is up and has answered since it last (re)connected. */
  get available(): boolean {
    return !this.closed && this.answering && this.client.status === 'ready';
  }

  /**
   * Runs `work` when Redis is available. Rejects with RedisUnavailableError at once when it is not, and as
   * soon as the connection drops while `work` runs (its commands may still complete after a reconnect: the
   * outcome is unknown, which the caller reports as not enqueued). With `timeoutMs`, also when `work` has not
   * ended by then: Redis is taken as not answering, which rejects all guarded work and fails the next fast.
   */
  guard<T>(work: () => Promise<T>, timeoutMs?: number): Promise<T> {
    if (!this.available) {
      return Promise.reject(new RedisUnavailableError(`Redis at ${this.describe} is ${this.answering ? 'unreachable' : 'not answering'}`));
    }
    let reject!: (error: Error) => void;
    const lost = new Promise<never>((_, r) => { reject = r; });
    this.inFlight.add(reject);
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => this.stoppedAnswering(timeoutMs), timeoutMs);
    return Promise.race([work(), lost]).finally(() => {
      clearTimeout(timer);
      this.inFlight.delete(reject);
    });
  }

  /** Records changes (`"<Entity> <id>"`) that could not be enqueued; they are logged when the outage ends. */
  recordDropped(changes: Array<{ entity: string; id: string }>, sent = false): void {
    const outage = this.outage ?? this.startOutage();
    const kind = sent ? outage.unconfirmed : outage.dropped;
    for (const { entity, id } of changes) {
      kind.total += 1;
      let ids = kind.ids.get(entity);
      if (ids?.has(id)) continue;
      if (outage.names >= MAX_DROPPED_NAMES) { outage.unnamed += 1; continue; }
      if (!ids) kind.ids.set(entity, (ids = new Set()));
      ids.add(id);
      outage.names += 1;
    }
  }

  /** Stops listening; an outage still going on is summed up now, so its dropped changes are not lost from the log. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.off('close', this.onClose);
    this.client.off('ready', this.onReady);
    if (this.outage && this.recorded(this.outage) > 0) {
      this.logger.error(`Redis at ${this.describe} was still unreachable at close, after ${this.elapsed()}; ${this.summary()}`);
    }
    this.outage = undefined;
  }

  private startOutage(): Outage {
    this.outage = { since: Date.now(), dropped: { ids: new Map(), total: 0 }, unconfirmed: { ids: new Map(), total: 0 }, names: 0, unnamed: 0 };
    return this.outage;
  }

  private wentDown(): void {
    if (this.closed) return;
    const error = new RedisUnavailableError(`the connection to Redis at ${this.describe} was lost`, true);
    for (const reject of this.inFlight) reject(error);
    if (this.outage) return;
    this.startOutage();
    this.logger.error(this.outbox
      ? `Redis at ${this.describe} is unreachable: committed changes wait in sync_machine_outbox and are moved to Redis ` +
        'when it answers again.'
      : `Redis at ${this.describe} is unreachable: committed changes cannot be enqueued and are dropped ` +
        'until it answers again (they are listed by name when it is back).');
  }

  /**
   * Guarded work waited `ms` on an open connection. Waiting longer would hold every write that commits meanwhile
   * (10 s each, before): until Redis answers a PING, sent behind what it has not answered, capture fails fast. A
   * connection that breaks meanwhile goes through `close` and `ready` instead.
   */
  private stoppedAnswering(ms: number): void {
    if (this.closed || !this.answering) return;
    this.answering = false;
    const error = new RedisUnavailableError(`Redis at ${this.describe} did not answer within ${ms} ms`, true);
    for (const reject of this.inFlight) reject(error);
    if (!this.outage) {
      this.startOutage();
      this.logger.error(`Redis at ${this.describe} did not answer within ${ms} ms (a stopped process, or a network that ` +
        "drops packets?): committed changes are dropped, without waiting, until it answers again (they are listed by " +
        'name when it is back).');
    }
    this.client.ping().then(() => this.cameBack(), () => undefined);
  }

  private cameBack(): void {
    this.answering = true;
    if (this.closed || !this.outage) return;
    const line = `Redis at ${this.describe} is back after ${this.elapsed()}; `;
    // Only capture's side: a trial read "no change was dropped" next to the data-loss error of the same restart.
    if (this.recorded(this.outage) === 0) {
      this.logger.info(`${line}capture dropped no committed change meanwhile (whether Redis kept its data is checked ` +
        'apart, and said when it did not).');
    }
    else this.logger.error(line + this.summary());
    this.outage = undefined;
  }

  private elapsed(): string {
    return `${((Date.now() - this.outage!.since) / 1000).toFixed(1)} s`;
  }

  private recorded(outage: Outage): number {
    return outage.dropped.total + outage.unconfirmed.total;
  }

  private summary(): string {
    const { dropped, unconfirmed, unnamed } = this.outage!;
    let cut = false;
    const list = (changes: Changes) => [...changes.ids].map(([entity, ids]) => {
      if (ids.size <= IDS_SHOWN) return `${entity} ${[...ids].join(', ')}`;
      cut = true;
      return `${entity} ${[...ids].slice(0, IDS_SHOWN).join(', ')} and ${ids.size - IDS_SHOWN} more`;
    }).join('; ');
    const parts: string[] = [];
    // Changes, and the rows they were of: a row written twice is one id in the list (a trial read 49 for 48 ids).
    const of = (changes: Changes) => {
      const rows = [...changes.ids.values()].reduce((n, ids) => n + ids.size, 0);
      return unnamed > 0 || rows === changes.total ? '' : ` (to ${rows} row${rows === 1 ? '' : 's'})`;
    };
    if (dropped.total > 0) parts.push(`${dropped.total} committed change(s)${of(dropped)} were dropped while it was down: ${list(dropped)}`);
    if (unconfirmed.total > 0) {
      parts.push(`${unconfirmed.total} ${dropped.total > 0 ? 'more ' : 'committed change(s) '}were being enqueued as it ` +
        `went down and may have been recorded after all (the client sends them again when it reconnects): ${list(unconfirmed)}`);
    }
    const more = unnamed > 0 ? ` and ${unnamed} more changes (only the first ${MAX_DROPPED_NAMES} entities are named)` : '';
    const all = cut ? ' (the `dropped` of drain() lists every one)' : '';
    return `${parts.join('; ')}${more}${all}. Call notifyChanged() or resync() for them (capture: 'outbox' keeps them instead).`;
  }
}
