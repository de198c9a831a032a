import { createHash, randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { Logger } from '../logger';
import type { KeySpace } from '../redis/keys';
import { ScriptCommands, withScripts } from '../redis/scripts';
import { refusedRead } from '../redis/wrong-type';
import { describeError } from '../errors';

/** How long a worker's entry on a roll lasts unless renewed: a worker killed outright counts this long after. */
const ENTRY_MS = 5_000;
/** How often a worker renews its entries, reading the rolls as it does. */
const RENEW_MS = 1_000;
/** A reading older than this is read again when asked for: a worker started a moment ago is known within a spill check. */
const FRESH_MS = 200;
/** A renewal unanswered this long, on an open connection, is said: Redis is stopped, or the network drops packets. */
const SILENT_MS = 2_000;

/**
 * The rolls of live workers this worker process is on, one per machine it runs (lib/redis/scripts/roll-2.lua). A
 * worker alone on a machine hands nothing back: with a slow partner API one worker handed back the subjects queued
 * behind a second of its publishes, and its own runs took them again, loading and building each twice.
 */
export class WorkerRoll {
  /** This worker process' id on the rolls; its runs' ids carry it (lockToken), so a run of a worker gone is told apart. */
  readonly id = randomUUID();
  private readonly redis: Redis & ScriptCommands;
  /** Other workers per machine, and when that was read (performance.now()). */
  private readonly others = new Map<string, { count: number; at: number }>();
  /** The read in flight per machine. */
  private readonly reading = new Map<string, Promise<void>>();
  private readonly refused = new Set<string>();
  /** Per machine, how many other workers run another definition of it, as last read (said when it changes to or from 0). */
  private readonly differing = new Map<string, number>();
  /** Machines whose last definition this worker has compared with its own (at its first renewal). */
  private readonly compared = new Set<string>();
  private timer?: NodeJS.Timeout;
  private left = false;
  /** When the renewal in flight began (performance.now()), and whether its silence was said. */
  private renewingSince?: number;
  private toldSilent = false;

  /** Per machine, how many other workers work on another database, as last read (said when it changes from 0). */
  private readonly elsewhere = new Map<string, number>();
  /** What this worker puts on the rolls of `database` ('' when unknown). */
  private readonly databaseDigest: string;

  /**
   * `definition`: the digest of the machine's definition this worker runs (lib/metadata/definition-digest.ts);
   * `database`: where it works (lib/database-label.ts), said in a warning, and its digest put on the roll.
   */
  constructor(redis: Redis, private readonly keys: KeySpace,
    private readonly machines: Array<{ name: string; className: string; definition?: string }>, private readonly logger: Logger,
    private readonly database?: string, private readonly redisAt = 'Redis') {
    this.redis = withScripts(redis);
    this.databaseDigest = database ? databaseDigest(database) : '';
  }

  /** Puts this worker on each machine's roll, and keeps it there until leave(). */
  async start(): Promise<void> {
    await this.renew();
    this.timer = setInterval(() => void this.renew(), RENEW_MS).unref();
  }

  /**
   * Whether another live worker runs `machine`: as last read when that is at most FRESH_MS old, else read now (a
   * worker that started a moment ago counts). As last read while Redis does not answer; false before any reading.
   */
  async othersRun(machine: string): Promise<boolean> {
    const seen = this.others.get(machine);
    if (!seen || performance.now() - seen.at > FRESH_MS) await this.read(machine);
    return (this.others.get(machine)?.count ?? 0) > 0;
  }

  /** Takes this worker off the rolls (close): the others hand nothing back to it. Best effort: entries expire. */
  async leave(): Promise<void> {
    this.left = true;
    clearInterval(this.timer);
    // Not while Redis is down: the command would wait for it.
    if (this.redis.status !== 'ready') return;
    await Promise.all(this.machines.map((m) =>
      this.redis.smRoll(this.keys.workers(m.name), this.keys.definitions(m.name), this.id, 0, m.definition ?? '', this.databaseDigest)
        .catch(() => undefined)));
  }

  /**
   * One renewal at a time; one unanswered for SILENT_MS on an open connection is said, and so is its answer. A Redis
   * stopped (SIGSTOP) for 10 s mid-backfill held every run, and the workers said nothing: a partner idle, the workers
   * silent (a trial). A connection that is lost is said by the runtime, not here (read() does not wait for it).
   */
  private async renew(): Promise<void> {
    if (this.renewingSince !== undefined) {
      // Looked at after the loop has read its sockets: a process stopped, or a loop held by a synchronous read
      // (better-sqlite3), finds the answer waiting there, which a timer firing late would take for silence.
      const since = this.renewingSince;
      setImmediate(() => { if (this.renewingSince === since) this.tellSilent(performance.now() - since); });
      return;
    }
    const since = this.renewingSince = performance.now();
    try {
      await Promise.all(this.machines.map((m) => this.read(m.name)));
    } finally {
      this.renewingSince = undefined;
      if (this.toldSilent) {
        this.toldSilent = false;
        if (!this.left) {
          this.logger.info(`${this.redisAt} answers this worker again, after ${((performance.now() - since) / 1000).toFixed(1)} s: ` +
            'its runs go on.');
        }
      }
    }
  }

  private tellSilent(ms: number): void {
    if (this.toldSilent || this.left || ms < SILENT_MS || this.redis.status !== 'ready') return;
    this.toldSilent = true;
    this.logger.warn(`${this.redisAt} has not answered this worker for ${Math.floor(ms / 1000)} s, with its connection open ` +
      '(a stopped process, or a network that drops packets?): its runs wait for it at their next command, and go on ' +
      'when it answers (said then).');
  }

  /** Renews this worker's entry on the machine's roll and reads how many others are on it; one read at a time. */
  private read(machine: string): Promise<void> {
    let reading = this.reading.get(machine);
    // Not while Redis is down: ioredis would queue a renewal a second until it is back.
    if (!reading && !this.left && this.redis.status === 'ready') {
      reading = this.renewOne(machine).finally(() => this.reading.delete(machine));
      this.reading.set(machine, reading);
    }
    return reading ?? Promise.resolve();
  }

  private async renewOne(machine: string): Promise<void> {
    const m = this.machines.find((one) => one.name === machine);
    try {
      const [count, differing, elsewhere] = await this.redis.smRoll(this.keys.workers(machine), this.keys.definitions(machine),
        this.id, ENTRY_MS, m?.definition ?? '', this.databaseDigest);
      if (this.left) return;
      this.others.set(machine, { count: Number(count), at: performance.now() });
      if (m?.definition) this.tellDefinitions(m.className, machine, Number(differing), Number(count));
      if (m?.definition && !this.compared.has(machine)) {
        this.compared.add(machine);
        await this.tellChangedSinceLast(m.className, machine, m.definition, Number(count));
      }
      if (m && this.database) this.tellDatabases(m.className, machine, Number(elsewhere), Number(count));
    } catch (error) {
      // A lost connection says nothing here (the runtime says once that Redis is down); a refusal is said once.
      if ((error as Error | undefined)?.name === 'ReplyError' && !this.refused.has(machine)) {
        this.refused.add(machine);
        const className = this.machines.find((m) => m.name === machine)?.className ?? machine;
        const why = await refusedRead(this.redis, this.keys, error, `the roll of ${className}'s workers: Redis refused it`, [{ name: machine, className }]);
        this.logger.warn(`${describeError(why)} Until it is fixed, this worker hands none of its queued publishes to other workers.`);
      }
    }
  }

  /**
   * Says when workers of the machine under this prefix work on another database than this worker: each runs the
   * others' changes against its own database, where they read as unchanged or gone, and their subjects stay stale
   * (a trial's two tenants on one prefix by mistake: one tenant's partner got no call of 3,000 writes, nothing said).
   */
  private tellDatabases(className: string, machine: string, elsewhere: number, others: number): void {
    const before = this.elsewhere.get(machine) ?? 0;
    this.elsewhere.set(machine, elsewhere);
    if (elsewhere === 0 || before > 0) return;
    this.logger.error(otherDatabaseError(className, this.keys.prefix, this.database!, `${elsewhere} of the ${others} other worker(s) running it`));
  }

  /**
   * Keeps the definition this worker runs as the machine's last, and says, when it starts alone, that it differs from
   * the one run before: a deploy that stopped the old workers before starting the new ones overlapped none, and
   * nothing said a resync was due (a trial). Where it overlaps, tellDefinitions says it.
   */
  private async tellChangedSinceLast(className: string, machine: string, definition: string, others: number): Promise<void> {
    const last = await this.redis.set(this.keys.lastDefinition(machine), definition, 'GET').catch(() => null);
    if (others > 0 || last === null || last === definition) return;
    this.logger.warn(`${className}: this worker runs another definition of it than its workers ran before (the source of ` +
      'its @Build, @CheckPublishable or @SubjectIdsFrom, its listened fields or relations differ): a deploy? Subjects are ' +
      `built with the new code only as they change: resync ${className} if those changed (\`npx sync-machine diff ` +
      `${className}\` lists the subjects whose payload differs; unchanged ones cost no API call).`);
  }

  /**
   * Says when other workers of the machine start or stop running another definition of it than this worker: during
   * a deploy, a subject an old worker runs is built by the old @Build (and found unchanged where that equals the
   * stored payload), so a resync is due once the last one stopped, and not before (a trial's resync, run with one
   * old worker left, left 2,000 of 3,000 orders in the old shape, nothing said).
   */
  private tellDefinitions(className: string, machine: string, differing: number, others: number): void {
    const before = this.differing.get(machine) ?? 0;
    this.differing.set(machine, differing);
    if (differing > 0 && before === 0) {
      this.logger.warn(`${className}: ${differing} of the ${others} other worker(s) running it run another definition of ` +
        `it (the source of its @Build, @CheckPublishable or @SubjectIdsFrom, its listened fields or relations differ from ` +
        "this worker's): a deploy under way? Each worker builds the subjects it runs with its own code, so a subject run " +
        'by one of those is published in its shape, or found unchanged where that equals the stored payload. Once every ' +
        `worker runs one definition (said then), resync ${className} if those changed (\`npx sync-machine diff ` +
        `${className}\` lists the subjects whose payload differs; unchanged ones cost no API call).`);
    } else if (differing === 0 && before > 0) {
      this.logger.info(`${className}: every worker running it now runs this worker's definition of it. If the deploy ` +
        `changed its @Build, @CheckPublishable, @SubjectIdsFrom, listened fields or relations, resync ${className} once ` +
        "the app processes run the new code too (they capture with their own listened fields, and are on no worker's " +
        `roll): \`npx sync-machine diff ${className}\` lists what differs; unchanged subjects cost no API call.`);
    }
  }
}

/** A database's digest on the rolls: its label (lib/database-label.ts) is not stored. */
export function databaseDigest(label: string): string {
  return createHash('sha256').update(label).digest('hex').slice(0, 12);
}

/** The error said when runtimes under one prefix work on different databases: `who` are the others. */
export function otherDatabaseError(className: string, prefix: string, database: string, who: string): string {
  return `${className}: ${who} under the prefix "${prefix}" work on another database than this process (${database}): ` +
    'a prefix holds the work of one database, so each worker runs the changes of the others against its own ' +
    'database, where they read as unchanged or gone, and their subjects stay stale. Give each database its own ' +
    '`prefix` (one per tenant, say), or point these processes at the same database.';
}
