import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { listed } from '../errors';
import type { Logger } from '../logger';
import { evictions } from './eviction';
import type { KeySpace } from './keys';
import { otherMachines } from './other-machines';

/** The marker's expiry: long past any outage worth telling apart. */
const MARKER_TTL_S = 24 * 3600;
/**
 * How often a connected runtime looks for (and renews) its marker: a FLUSHALL, or a failover to an empty replica
 * behind the same address, drops no connection, and a look after reconnects alone never saw it (a trial: a FLUSHALL
 * mid-backfill left 891 subjects stale, with no line in any log and drain() resolving clean).
 */
const CHECK_MS = 5_000;

/**
 * Tells when Redis comes back from an outage without the data it held: a restart of a Redis that keeps nothing on
 * disk (or a FLUSHALL, a failover to an empty replica). Its pending changes, failure records and tickets are gone
 * then, and the subjects they stood for stay stale with no error anywhere. Each runtime keeps a marker key of its
 * own; it looks for it after every reconnect and every CHECK_MS, and when the marker is gone says so, with the way to
 * recover.
 */
export class DataLossWatch {
  private readonly key: string;
  private down = false;
  /** Started while Redis was down: the first connection sets the marker, as there is nothing yet to look for. */
  private unmarked = false;
  private renewal?: NodeJS.Timeout;
  /** The look in flight (lookNow): two at once would both find the marker gone, and say the loss twice. */
  private looking?: Promise<void>;
  /** Connections lost so far: a look that spanned a reconnect tells it as one. */
  private closes = 0;
  private readonly onClose = () => {
    this.down = true;
    this.closes += 1;
  };
  private readonly onReady = () => {
    if (this.unmarked) {
      this.unmarked = false;
      this.down = false;
      void this.mark().catch(() => { this.unmarked = true; });
      return;
    }
    if (!this.down) return;
    this.down = false;
    void this.check(true);
  };

  constructor(
    private readonly client: Redis, private readonly keys: KeySpace, private readonly logger: Logger, private readonly describe: string,
    private readonly machines: string[], private readonly outbox = false,
  ) {
    this.key = keys.runtimeMarker(randomUUID());
  }

  /**
   * `refusedWrites`: a first mark refused so (Redis at its maxmemory) leaves it unmarked, to mark once Redis takes
   * writes, and resolves with that error; any other failure rejects.
   */
  async start(refusedWrites?: (error: unknown) => boolean): Promise<unknown> {
    let refused: unknown;
    if (this.client.status === 'ready') {
      await this.mark().catch((error: unknown) => {
        if (!refusedWrites?.(error)) throw error;
        refused = error;
        this.unmarked = true;
      });
    } else this.unmarked = true;
    this.client.on('close', this.onClose);
    this.client.on('ready', this.onReady);
    this.renewal = setInterval(() => void this.lookNow(), CHECK_MS).unref();
    return refused;
  }

  /**
   * Looks for the marker now, as the timer does every CHECK_MS; one look at a time. drain() looks before it resolves:
   * one called right after a FLUSHALL resolved in a few ms with `dataLost: []` while 11-49 books were stale, and
   * only a drain 7 s later listed the loss (a trial).
   */
  lookNow(): Promise<void> {
    // Not while down: the command would wait for the connection, and the reconnect looks anyway.
    if (this.client.status !== 'ready' || this.down) return Promise.resolve();
    // Started while Redis refused writes (at its maxmemory): marked once it takes them, with nothing to look for before.
    if (this.unmarked) {
      this.looking ??= this.mark().then(() => { this.unmarked = false; }, () => undefined).finally(() => { this.looking = undefined; });
      return this.looking;
    }
    this.looking ??= this.check(false).finally(() => { this.looking = undefined; });
    return this.looking;
  }

  async close(): Promise<void> {
    this.client.off('close', this.onClose);
    this.client.off('ready', this.onReady);
    clearInterval(this.renewal);
    // Not while Redis is down (the command would wait for it): the marker expires on its own.
    if (this.client.status === 'ready') await this.client.del(this.key).catch(() => undefined);
  }

  /** Looks for the marker and sets it again; says so when it was gone. `reconnected`: after an outage. */
  private async check(reconnected: boolean): Promise<void> {
    const closes = this.closes;
    try {
      // SET ... GET answers the value the key had: nil when Redis lost it (Redis 6.2 and later).
      const had = await this.client.set(this.key, '1', 'EX', MARKER_TTL_S, 'GET');
      if (had !== null) return;
    } catch {
      return; // down again, or a Redis before 6.2: the next reconnect looks again
    }
    const evicting = reconnected || this.closes !== closes ? undefined : await evictions(this.client);
    const what = reconnected || this.closes !== closes
      ? 'came back without the data it held (a restart of a Redis that keeps nothing on disk, a FLUSHALL, or a failover ' +
        'to an empty replica): changes recorded before the outage and not yet run'
      : evicting
        ? `evicted keys of sync-machine's while connected (maxmemory-policy ${evicting.policy}, ${evicting.evicted} keys ` +
          'evicted so far: set maxmemory-policy noeviction, and raise maxmemory; or a FLUSHALL): changes recorded and not yet run'
        : 'lost the data it held while connected (a FLUSHALL or FLUSHDB, or a failover to an empty replica at the same ' +
          'address): changes recorded and not yet run';
    found += 1;
    this.say(`${what}, failure records, the records of publishes whose outcome was not known, and publication ` +
      'counters are gone', this.machines);
    await this.record(this.machines);
  }

  /**
   * Once, at start: the machines whose counters Redis no longer holds while the payload table holds subjects they
   * published. The markers tell a loss only while some runtime is connected: a Redis that keeps nothing on disk,
   * restarted while every worker and app process was down, lost 50 pending changes with no line anywhere (a trial).
   * Redis lost its data then, or the prefix is new to this database: either way what was pending is not here.
   */
  async checkAtStart(hasPublished: (machine: string) => Promise<boolean>): Promise<void> {
    let lost: string[];
    let emptied: Array<[machine: string, published: number]>;
    /** Machines this process does not start that Redis holds counters of, and the payload table no subject of. */
    let renamedFrom: string[] = [];
    /** Machines whose loss a runtime found already: when, and whether it read as a new prefix would. */
    const found = new Map<string, { at: Date; maybeNewPrefix: boolean }>();
    try {
      if (this.client.status !== 'ready') return; // the reconnect's look is all there is to do then
      const pipeline = this.client.pipeline();
      for (const machine of this.machines) {
        pipeline.exists(this.keys.stats(machine)).hget(this.keys.stats(machine), PUBLISHED).get(this.keys.dataLost(machine));
      }
      const replies = (await pipeline.exec()) ?? [];
      const reply = (i: number, part: number) => (replies[3 * i + part]?.[0] ? undefined : replies[3 * i + part]?.[1]);
      const bare = this.machines.filter((_, i) => Number(reply(i, 0)) === 0);
      const counted = this.machines.map((m, i): [string, number] => [m, Number(reply(i, 1) ?? 0)]).filter(([, n]) => n > 0);
      this.machines.forEach((m, i) => { const record = lostRecord(reply(i, 2)); if (record) found.set(m, record); });
      const asked = [...new Set([...bare, ...counted.map(([m]) => m)])];
      const published = new Map(await Promise.all(asked.map(async (m) => [m, await hasPublished(m)] as const)));
      lost = bare.filter((m) => published.get(m));
      emptied = counted.filter(([m]) => !published.get(m));
      const fresh = bare.filter((m) => !published.get(m));
      if (lost.length + fresh.length > 0) {
        const others = await otherMachines(this.client, this.keys, this.machines);
        const rows = await Promise.all(others.map(hasPublished));
        renamedFrom = others.filter((_, i) => !rows[i]);
        this.tellRenamed(fresh, others.filter((_, i) => rows[i]));
      }
    } catch {
      return; // Redis or the database refused: start() reports those on its own
    }
    for (const [machine, count] of emptied) {
      // The other way round: a payload table that starts empty under counters that say it published, as a new table
      // in another schema did for two trials. Every subject is then published again, with versions from 1, which a
      // partner that refuses a version lower than it holds refuses.
      this.logger.warn(`The payload table, as this connection finds it, holds no subject of ${machine}, while Redis at ` +
        `${this.describe} counts ${count} publish(es) of it: is it a new table (another schema or database than before)? ` +
        'Every subject would be published again, with ctx.version from 1. If the table it published to is elsewhere, ' +
        'point the connection there before a worker runs; if this one is meant to start empty, nothing is needed ' +
        '(this is said at each start until the first publish; tests that recreate their tables: a fresh prefix per run).');
    }
    // A loss another runtime found while connected is said as that: "while no runtime was connected" was untrue of
    // it, and read as a second loss (a trial). Said at each start until the full resync that ends it, though work
    // since has written the machine's counters again: a trial's workers started after it said nothing.
    const known = this.machines.filter((m) => found.has(m));
    // Found as a start finds a new prefix (no counters, subjects in the payload table), and recorded so (`?`): said
    // with that doubt, which the runtime that found it said, and this line did not (a trial started its app under a
    // new prefix, as the README's upgrade says, and read of a loss at each call). A loss found while connected (a
    // FLUSHALL) is one for sure, though a start after it finds no counters either.
    const unsure = known.some((m) => found.get(m)!.maybeNewPrefix);
    lost = lost.filter((m) => !found.has(m));
    if (known.length > 0) {
      // Led by the doubt where there is one: in a parenthesis after "are gone", a trial under a new prefix read the
      // loss as certain.
      const at = found.get(known[0])!.at.toISOString();
      const until = `(said in status and drain until a full resync of ${known.join(', ')})`;
      const gone = 'changes recorded before then and not yet run, failure records and the records of publishes whose ' +
        'outcome was not known are gone';
      this.say(unsure
        ? `held no record of ${known.join(', ')} when a runtime looked at ${at} ${until}, while the payload table held ` +
          'subjects it published: either this prefix is new to this database, and nothing was lost (what is pending ' +
          'under the old prefix stays there; is the `redis` option\'s database index the one used before?), or Redis ' +
          `lost the data it held, and ${gone}`
        : `lost the data it held, as a runtime found at ${at} ${until}: ${gone}`, known, unsure);
    }
    if (lost.length === 0) return;
    if (renamedFrom.length > 0) {
      // The README's recipe for a rename moves the payload rows, which reads as this; said as a data loss, and recorded
      // as one in status, it sent two trials looking for a loss that never happened.
      const old = listed(renamedFrom, 5);
      this.logger.warn(`Redis at ${this.describe} holds no record of ${lost.join(', ')} (not even its counters) while ` +
        `the payload table holds subjects it published, and holds counters of ${old}, which this process does not start ` +
        `and of which the payload table holds no subject: taken as ${old} renamed, its payload rows moved to the new ` +
        'name (README, "Renaming a machine"), with nothing lost. Changes still pending under the old name are not run ' +
        `by the new one: resync ${lost.join(', ')} (unchanged subjects cost no API call), then delete the old name's ` +
        `keys (redis-cli --scan --pattern '${this.keys.prefix}:${renamedFrom[0]}:*' | xargs redis-cli del). If nothing ` +
        'was renamed, Redis lost its data: resync all the same, and make Redis keep its data (appendonly yes). (Said ' +
        'at each start until the machine first runs.)');
      return;
    }
    this.say(`holds no record of ${lost.join(', ')} (not even its counters) while the payload table holds subjects ` +
      'it published: either this prefix is new to this database, and nothing was lost (what is pending under the old ' +
      'prefix stays there; is the `redis` option\'s database index the one used before?), or Redis lost the data it ' +
      'held while no runtime was connected (a restart of a Redis that keeps nothing on disk, a FLUSHALL), and changes ' +
      'recorded before and not yet run, failure records and the records of publishes whose outcome was not known are ' +
      'gone', lost, true);
    await this.record(lost, true);
  }

  /**
   * Machines new to Redis and to the payload table (`fresh`) beside machines this process does not start whose
   * subjects the payload table holds (`held`): a machine renamed (its class, or @SyncMachine({ name })) publishes
   * every subject again under the new name, with ctx.version from 1, which a partner that takes only higher versions
   * refuses, and leaves its pending work under the old name (a trial: 3,000 of 3,000 calls below the partner's
   * version, 330 items stranded, nothing said). Said at each start until the machine's first run.
   */
  private tellRenamed(fresh: string[], held: string[]): void {
    if (fresh.length === 0 || held.length === 0) return;
    const one = fresh.length === 1;
    this.logger.warn(`${listed(fresh, 5)} ${one ? 'is' : 'are'} new to Redis at ${this.describe} and to the payload table, ` +
      `which hold subjects of ${listed(held, 5)}, a machine this process does not start: is ${one ? 'it' : 'one of them'} ` +
      `${listed(held, 5)} renamed (its class, or @SyncMachine({ name }))? Then every subject is published again under the ` +
      'new name, with ctx.version from 1 (a partner that takes only higher versions refuses them), and the changes ' +
      'pending under the old name are not run. Keep the old name (@SyncMachine({ subject, name: ' +
      `'${held[0]}' })), or move it as the README's "Renaming a machine" says before a worker of the new name runs. ` +
      'A machine that is new beside the others needs nothing (this is said at each start until its first run).');
  }

  /** `newPrefix`: what was found reads the same under a prefix new to this database, where `--force` only costs. */
  private say(what: string, machines: string[], newPrefix = false): void {
    const outbox = this.outbox
      ? ' (With capture: \'outbox\', the changes committed while Redis was unreachable waited in sync_machine_outbox ' +
        'and are not among them.)'
      : '';
    // A trial upgrading under a new prefix, as the README says, read the --force advice as its step: 2,500 calls,
    // none needed.
    this.logger.error(`Redis at ${this.describe} ${what}, and the subjects they stood for may stay stale.${outbox} ` +
      `Run resync for ${machines.join(', ')} (\`npx sync-machine resync <Machine>\`: unchanged subjects cost no API ` +
      `call); ${newPrefix ? 'under a new prefix that is all. If Redis did lose its data, ' : ''}a publish that failed ` +
      'or timed out just before may still have reached the API unrecorded, which only `resync <Machine> --force` ' +
      'sends again (every subject, once). And make Redis keep its data (appendonly yes).');
  }

  /**
   * Tells `status` too, until a full resync of the machine: a log line is easily missed, and status read clean after
   * a loss (a trial). Best effort: Redis may be gone again.
   */
  private async record(machines: string[], maybeNewPrefix = false): Promise<void> {
    try {
      const at = await redisNowMs(this.client);
      const pipeline = this.client.pipeline();
      // NX: a record that stands keeps when the loss was first found. Each runtime that starts before anything is
      // published finds it again (checkAtStart), and moved it on (a trial). A new loss takes the record with it.
      // `?`: found as a new prefix reads, which status and later starts then say too (a trial read "lost" as fact
      // at every CLI command after its first worker under a new prefix).
      for (const machine of machines) pipeline.set(this.keys.dataLost(machine), `${at}${maybeNewPrefix ? '?' : ''}`, 'NX');
      // Not NX: the latest loss is the one whose lost records a subject stored before it may have outlived.
      for (const machine of machines) pipeline.set(this.keys.lostBefore(machine), String(at), 'EX', LOST_BEFORE_TTL_S);
      await pipeline.exec();
      losses += 1;
    } catch {
      // The log line above says it all the same.
    }
  }

  private async mark(): Promise<void> {
    await this.client.set(this.key, '1', 'EX', MARKER_TTL_S);
  }
}

/**
 * How long a found loss raises the next version of the subjects stored before it (KeySpace.lostBefore): a subject
 * whose call of unknown outcome was lost with Redis' data and that changes within this time does not reuse that
 * call's version.
 */
const LOST_BEFORE_TTL_S = 7 * 24 * 3600;

/** Losses this process recorded: a worker's read of KeySpace.lostBefore older than the last is read again. */
let losses = 0;

export function lossesRecorded(): number {
  return losses;
}

/** Losses this process found, recorded or not: the subject locks its runs held before one are no longer proven. */
let found = 0;

export function lossesFound(): number {
  return found;
}

/** The counter of a machine's publishes in its stats hash (finish.lua). */
const PUBLISHED = 'ensure-publication:published';

/** Redis' clock in ms: what a found loss is recorded with, and what a resync compares it with. */
export async function redisNowMs(client: Redis): Promise<number> {
  const [seconds, micros] = await client.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/**
 * A machine's data-loss record as written (KeySpace.dataLost): Redis' ms when the loss was found, followed by `?` when
 * it was found as a new prefix would be (no counters, subjects in the payload table): nothing was lost then.
 */
const LOST_RECORD = /^(\d{1,16})(\?)?$/;

/** A machine's data-loss record as read from Redis, or undefined when absent or not of our form. */
export function lostRecord(value: unknown): { at: Date; maybeNewPrefix: boolean } | undefined {
  const parts = typeof value === 'string' ? LOST_RECORD.exec(value) : undefined;
  if (!parts) return undefined;
  const at = new Date(Number(parts[1]));
  return Number.isFinite(at.getTime()) ? { at, maybeNewPrefix: parts[2] === '?' } : undefined;
}
