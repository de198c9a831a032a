import type Redis from 'ioredis';
import { ConfigurationError, describeError, DrainTimeoutError, shownValue } from '../errors';
import type { Logger } from '../logger';
import { discoverMachines } from '../metadata/discover';
import type { MachineDefinition } from '../metadata/machine-definition';
import { Enqueuer } from '../pipeline/enqueuer';
import { ensurePublications } from '../pipeline/ensure-publication';
import { findSubjectsBatch } from '../pipeline/find-subjects';
import { QueueSet, STEPS } from '../pipeline/queues';
import { encodeRequest } from '../pipeline/requests';
import { ChangeRouter } from '../pipeline/router';
import { OutboxRelay } from '../pipeline/outbox-relay';
import { startWorkers, type Stopping } from '../pipeline/worker';
import { databaseDigest, otherDatabaseError, WorkerRoll } from '../pipeline/worker-roll';
import { SaidTogether } from '../pipeline/said-together';
import { atMost, NoAnswerError, withTimeout } from '../at-most';
import { Wakes } from '../pipeline/wakes';
import type { CapturedChange, EntityClass, OrmAdapter } from '../ports';
import { MAX_DROPPED_NAMES, RedisAvailability, RedisSilentError, RedisUnavailableError, unanswered, writesRefused } from '../redis/availability';
import { DataLossWatch, redisNowMs } from '../redis/data-loss';
import { clearResyncNotices } from '../redis/resync-notices';
import { resolveRedis } from '../redis/connection';
import { warnIfEvicting } from '../redis/eviction';
import { checkRedis, redisRefusal } from '../redis/wait-for-redis';
import { KeySpace, Step } from '../redis/keys';
import { refusedRead, wrongTypeFix } from '../redis/wrong-type';
import { CounterReading, drainMachines, DrainSummary, DroppedChange, readCounters } from './drain';
import { takeFailures, tellFailures } from './failures';
import { notifiedChanges } from './notify';
import { pickAdapter } from './pick-adapter';
import { Turns } from '../pipeline/turns';
import { RunsInFlight } from '../pipeline/runs-in-flight';
import { MARK_CHUNK } from '../pipeline/work-queue';
import { reconcileMachine, ReconcileOptions, ReconcileReport } from './reconcile';
import { resyncSubjects, ResyncOptions } from './resync';
import { definitionDigest } from '../metadata/definition-digest';
import { otherMachines, otherMachinesWork, type OtherMachineWork } from '../redis/other-machines';

export type { ResyncOptions };
import { readSubjectStatus, SubjectStatus } from './subject-status';
import { DefinitionCount, MachineStatus, readDefinitions, readMachineStatus, workersOnOtherDatabases } from './status';
import { refuseUnknownOptions } from '../known-options';
import { checkedIds } from './subject-ids';
import { checkStartOptions, resolveCapture, resolveLogger, resolvePrefix, resolveWorker, ResolvedWorker, StartOptions } from './options';

export interface StatusOptions {
  /** Only these machines; default: all. */
  machines?: MachineRef[];
  /** Latest publishes and failures shown per machine. Default 5. */
  limit?: number;
}

export interface DrainOptions {
  /** Reject with DrainTimeoutError after this long. Default: wait as long as it takes. */
  timeoutMs?: number;
}

const CONNECT_TIMEOUT_MS = 10_000;
/**
 * How long a call of the API (status, notifyChanged, ...) waits on Redis before it asks whether Redis answers at all.
 * A Redis that is stopped (SIGSTOP, a frozen VM) keeps its connection, so ioredis never gives up: status() waited for
 * good (a trial's CLI, 22.8 s, and longer here).
 */
const CALL_PATIENCE_MS = 10_000;
const PING_PATIENCE_MS = 2_000;

/** A started machine by name, by class, or as the instance given to start(). */
type MachineRef = string | (abstract new (...args: never[]) => object) | object;

/**
 * A machine with no @ListenTo starts (a machine run only by resync and notifyChanged is allowed), but no commit
 * ever runs it: said once at start, since a forgotten @ListenTo otherwise shows only as publishes that never come.
 */
function warnUnlistened(machines: MachineDefinition[], logger: Logger): void {
  for (const m of machines) {
    if (m.listeners.length > 0) continue;
    const subject = m.subjectInfo.name;
    logger.warn(`${m.className} listens to no entity, so no commit runs it: only resync and notifyChanged do. To publish ` +
      `${subject} when its rows change, add @ListenTo(${subject}) to the class (and @ListenTo with @SubjectIdsFrom for ` +
      'the related entities its payload reads).');
  }
}

/**
 * A many-to-many relation of the subject that `relations` loads (so @Build reads it) and the subject's `fields` leave
 * out: adding or removing a link changes no row of either entity, and both ORMs report it as a change of that
 * property, which the listener then filters away. A trial's tags.add()/remove() on 80 books made no call and left
 * 80 stale, nothing said. Said once at start; fields name what is captured, so this is not refused.
 */
function warnUnwatchedLinks(machines: MachineDefinition[], logger: Logger): void {
  for (const m of machines) {
    const own = m.listeners.find((l) => l.entity === m.subject && l.mapper === undefined);
    if (!own?.fields || !m.relations) continue;
    const links = m.subjectInfo.manyToMany ?? {};
    const loaded = [...new Set(m.relations.map((path) => path.split('.')[0]))];
    const left = loaded.filter((name) => name in links && !own.fields!.includes(name));
    if (left.length === 0) continue;
    const subject = m.subjectInfo.name;
    const named = left.map((name) => `"${name}"`).join(', ');
    logger.warn(`${m.className} loads ${named} (relations), which @ListenTo(${subject}, { fields }) leaves out: a link added ` +
      `to or removed from ${left.length === 1 ? 'that many-to-many relation' : 'those many-to-many relations'} changes no ` +
      `row, and is captured only as a change of ${named}, so it runs no ${subject} and its payload stays as it was. Add ` +
      `${named} to fields, or take ${left.length === 1 ? 'it' : 'them'} out of relations if @Build does not read ` +
      `${left.length === 1 ? 'it' : 'them'}.`);
  }
}

/**
 * A machine named by its class, whose class name a minifier shortened ("In"): its Redis keys and stored payloads go
 * by that name, which the next build changes, so every subject would publish again from version 1, and an app and a
 * worker bundled apart disagree (a trial's esbuild --minify, nothing said).
 */
function warnMinifiedNames(machines: MachineDefinition[], logger: Logger): void {
  const short = machines.filter((m) => !m.named && m.className.length <= 2).map((m) => `"${m.name}"`);
  if (short.length === 0) return;
  // One line for all: a minified bundle shortens every class, subjects included, so no name tells them apart.
  logger.warn(`${short.length === 1 ? 'A machine is' : `${short.length} machines are`} named after ${short.length === 1
    ? 'its class' : 'their classes'} (${short.join(', ')}), by a name a minifier leaves: Redis keys and stored payloads go ` +
    'by it, and the next build may name it otherwise (every subject published again, from version 1). Bundle with ' +
    '--keep-names, or give each machine a name of its own (@SyncMachine({ name })).');
}

/**
 * A runtime without a worker never reads the payload table to capture, so a missing one does not stop it; but the
 * install is unfinished (its workers refuse to start, and resync, status and diff from here fail): said at start,
 * not first by a worker on another host (an outside trial: a capture-only start said nothing).
 */
async function warnWithoutPayloads(adapter: OrmAdapter, logger: Logger): Promise<void> {
  try {
    await adapter.payloads.check();
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    logger.warn(`SyncMachines.start (no worker): ${error.message} This runtime only captures, so it started; workers ` +
      'refuse to start until the table is there.');
  }
}

/**
 * How long an app process' start (no worker) waits for its looks at the payload table; they end on their own after.
 * It needs no payload table to capture, and a lock on the table (a migration's) held a trial's start 17 s.
 */
const START_LOOK_MS = 1_000;

/** A started sync-machine runtime: captures changes, and runs workers when asked to. */
export class SyncMachines {
  private readonly pending = new Set<Promise<void>>();
  /**
   * Changes capture could not enqueue while Redis answered (it refused them), said together a second after the first:
   * a Redis at its maxmemory made one error line per commit (155 in a trial). close() says what is left at once.
   */
  private readonly droppedLines = new SaidTogether<SyncMachines, { changes: CapturedChange[]; why: string }>(
    1_000, (_, drops) => this.sayDropped(drops));
  /** Set by close(): running tickets finish their batch and take no other. */
  private readonly stopping: Stopping = { now: false, closed: false };
  /** Batches in flight in this process: drain() waits for them even when Redis shows no work left. */
  private readonly running = new RunsInFlight();
  /** Wakes this process' lingering tickets; set in start() when it runs workers. */
  private wakes?: Wakes;
  private unsubscribe?: () => void;
  /** Capture fails fast while Redis is down (SPEC §6.3); set in start(). */
  private availability?: RedisAvailability;
  /** Says when Redis comes back from an outage without its data; set in start(). */
  private dataLoss?: DataLossWatch;
  /** The rolls of live workers this runtime is on; set in start() when it runs workers. */
  private roll?: WorkerRoll;
  /** Hands back the publishes that wait for a slot (startWorkers); set in start() when it runs workers. */
  private stopPublishing?: () => void;
  private closing?: Promise<void>;
  private workerStopping?: Promise<void>;
  /** Where Redis is, for messages. */
  private redisAt = '';
  /** How long a write waits for Redis per mark call (StartOptions.captureTimeoutMs); set in start(). */
  private captureTimeoutMs = 2000;
  /** Rows whose captured changes were dropped since the last drain() (DrainSummary.dropped), by entity and id. */
  private readonly dropped = new Map<string, DroppedChange>();
  /** capture: 'outbox': moves outbox rows to Redis; set in start(). */
  private relay?: OutboxRelay;
  /** The counters as read with this runtime's first request since its last drain: that drain reports from there. */
  private unreported?: Promise<CounterReading | undefined>;

  private constructor(
    private readonly adapter: OrmAdapter,
    private readonly machines: MachineDefinition[],
    private readonly redis: Redis,
    private readonly keys: KeySpace,
    /** A worker's; a runtime that only captures has none. */
    private readonly queues: QueueSet | undefined,
    private readonly enqueuer: Enqueuer,
    private readonly router: ChangeRouter,
    private readonly logger: Logger,
    private readonly worker: ResolvedWorker | undefined,
  ) {}

  /** Discovers and validates the machines, connects, subscribes to commits and (with `worker`) starts workers. */
  static async start(options: StartOptions): Promise<SyncMachines> {
    if (!options || typeof options !== 'object') {
      throw new ConfigurationError('SyncMachines.start needs options: { orm, redis, machines }.');
    }
    checkStartOptions(options);
    const logger = resolveLogger(options.logger);
    const adapter = pickAdapter(options.orm, logger);
    const machines = discoverMachines(options.machines, adapter);
    warnUnlistened(machines, logger);
    warnUnwatchedLinks(machines, logger);
    warnMinifiedNames(machines, logger);
    const worker = resolveWorker(options.worker);
    const keys = new KeySpace(resolvePrefix(options.prefix));
    const capture = resolveCapture(options.capture, options.outboxPollMs, options.captureTimeoutMs);
    if (capture.mode === 'outbox') await adapter.outbox.check();
    const redisSettings = resolveRedis(options.redis);
    const bodyLimit = worker ? await adapter.payloads.check() : undefined;
    if (!worker) await atMost(START_LOOK_MS, warnWithoutPayloads(adapter, logger), (error) => logger.warn(`SyncMachines.start (no worker): ${describeError(error)}`));
    // A web process restarting during an outage: with the outbox its commits lose nothing, so it starts and waits.
    const startsWithoutRedis = await checkRedis(redisSettings, { mayBeDown: capture.mode === 'outbox' && !worker, prefix: keys.prefix });

    const redis = redisSettings.createClient();
    let lastLogged = 0;
    redis.on('error', (error) => {
      // ioredis reconnects by itself; say so once in a while rather than on every attempt.
      if (Date.now() - lastLogged < 10_000) return;
      lastLogged = Date.now();
      logger.error(`Redis at ${redisSettings.describe}: ${describeError(error)} (reconnecting)`);
    });
    // Only workers take tickets through Bee-Queue; capture writes them with its own scripts.
    const queues = worker ? new QueueSet(redisSettings, keys, machines.map((m) => m.name), worker, logger) : undefined;
    if (startsWithoutRedis) {
      logger.warn(`SyncMachines.start: Redis at ${redisSettings.describe} does not answer ` +
        `(${describeError(startsWithoutRedis)}); started anyway, since capture: 'outbox' keeps every committed change in ` +
        'sync_machine_outbox until it answers. Calls that need Redis (drain, status, resync, notifyChanged) wait or fail ' +
        'until then; if it never answers, fix the `redis` option.');
      redis.once('ready', () => void warnIfEvicting(redis, redisSettings.describe, logger));
    } else {
      try {
        await withTimeout(Promise.all([redis.ping(), queues?.ready()]), CONNECT_TIMEOUT_MS);
      } catch (error) {
        redis.disconnect();
        await queues?.close(0);
        // A worker's queues subscribe to channels here: an ACL user without them was told "Cannot reach Redis".
        throw redisRefusal(redisSettings, error, keys.prefix);
      }
      await warnIfEvicting(redis, redisSettings.describe, logger);
    }
    const enqueuer = new Enqueuer(redis, keys, machines);
    const router = new ChangeRouter(machines, enqueuer);
    const runtime = new SyncMachines(adapter, machines, redis, keys, queues, enqueuer, router, logger, worker);
    runtime.redisAt = redisSettings.describe;
    runtime.captureTimeoutMs = capture.timeoutMs;
    runtime.availability = new RedisAvailability(redis, logger, redisSettings.describe, capture.mode === 'outbox');
    runtime.dataLoss = new DataLossWatch(redis, keys, logger, redisSettings.describe, machines.map((m) => m.name), capture.mode === 'outbox');
    // Its first write: a Redis at its maxmemory refuses it, which a trial's CLI printed bare ("OOM command not allowed").
    // A worker cannot run then; an app process (and so `sync-machine status` and `diff`) starts, to read.
    const refusesWrites = (error: unknown) => writesRefused(error) !== undefined;
    try {
      const refused = await runtime.dataLoss.start(worker ? undefined : refusesWrites);
      if (refused) {
        logger.warn(`SyncMachines.start: Redis at ${redisSettings.describe} refuses writes (${describeError(refused)}): ` +
          `${writesRefused(refused)}. Started anyway: status() and reconcile() read; the changes of commits are dropped, ` +
          'each named, until it takes writes again, and a worker cannot start.');
      }
    } catch (error) {
      if (!refusesWrites(error)) throw error;
      runtime.availability.close(); // the disconnect is no outage to tell ("unreachable", a trial's first line)
      redis.disconnect();
      await queues?.close(0);
      throw redisRefusal(redisSettings, error, keys.prefix);
    }
    if (!worker) await atMost(START_LOOK_MS, runtime.tellOtherDatabases(), () => undefined);
    const lookedAtStart = runtime.dataLoss.checkAtStart(async (machine) => (await adapter.payloads.pageSubjectIds(machine, undefined, 1)).length > 0);
    // A worker reads the payload table anyway before it runs; an app process waits for the look START_LOOK_MS at most.
    if (worker) await lookedAtStart;
    else await atMost(START_LOOK_MS, lookedAtStart, () => undefined);
    if (capture.mode === 'outbox') {
      const relay = new OutboxRelay({
        outbox: adapter.outbox, logger, pollMs: capture.pollMs,
        entities: new Map([...router.watched].map((entity) => [entity.name, entity])),
        // A move is this runtime's request, as a commit is: its runs count in the next drain() (a reading at the
        // commit fails while Redis is down, and a drain() then uses it up: a trial's drain after an outage read {}).
        route: (changes) => runtime.availability!.guard(() => runtime.requesting(() => router.route(changes), true)),
      });
      runtime.relay = relay;
      redis.on('ready', () => relay.nudge()); // back from an outage: move what waited, without waiting for the poll
      // The changes are in the outbox, committed: the write need not wait for Redis, only wake the relay.
      runtime.unsubscribe = adapter.onCommitted(router.watched, async () => {
        runtime.willRequest();
        relay.nudge();
      }, { outbox: true, fields: router.fields });
      relay.nudge(); // rows left by an outage before this process started
    } else {
      runtime.unsubscribe = adapter.onCommitted(router.watched, (changes) => runtime.capture(changes), { fields: router.fields });
    }

    if (worker) {
      const lookups = {
        adapter, logger, warnedEmptyRemovals: new Set<string>(),
        requestPublications: (machine: string, requests: Array<[string, Record<string, string>]>) =>
          enqueuer.request(machine, 'ensure-publication', requests),
        publicationDestination: (machine: string) => `${keys.prefix}:${keys.queueName(machine, 'ensure-publication')}`,
      };
      const channels = machines.flatMap((m) => STEPS.map((step) => keys.wakeChannel(m.name, step)));
      const wakes = runtime.wakes = await Wakes.start(redis, channels);
      enqueuer.onMarked = (machine, step) => wakes.wake(keys.wakeChannel(machine, step));
      const reads = new Turns(adapter.blocksEventLoop === true);
      const roll = runtime.roll = new WorkerRoll(redis, keys,
        machines.map((m) => ({ name: m.name, className: m.className, definition: definitionDigest(m) })), logger,
        adapter.databaseLabel?.(), `Redis at ${redisSettings.describe}`);
      runtime.stopPublishing = startWorkers({ queues: queues!, enqueuer, keys, logger, ...worker, stopping: runtime.stopping, running: runtime.running, wakes,
        takesInTurn: adapter.blocksEventLoop === true, roll, redisAt: redisSettings.describe }, machines, {
        'find-subjects': (settings, batch) => inContext(adapter, () => findSubjectsBatch(lookups, settings, batch)),
        'ensure-publication': (settings, batch, locks) =>
          inContext(adapter, () => ensurePublications({ adapter, logger, reads, bodyLimit }, settings, batch, locks!)),
      });
      // On the rolls once its queues take tickets: a worker counted in `status` takes work handed to it.
      await roll.start();
      // A look, as at start above: a Redis that stops answering now does not hold the start.
      await atMost(START_LOOK_MS, tellFailures(redis, keys, machines, (line) => logger.warn(line)), () => undefined);
    }
    return runtime;
  }

  /**
   * An app process (no worker) whose machines' workers under this prefix work on another database: its changes are
   * run against theirs (worker-roll.ts says it to the workers). Best effort.
   */
  private async tellOtherDatabases(): Promise<void> {
    const label = this.adapter.databaseLabel?.();
    if (!label) return;
    try {
      for (const m of this.machines) {
        const elsewhere = await workersOnOtherDatabases(this.redis, this.keys, m.name, databaseDigest(label));
        if (elsewhere > 0) this.logger.error(otherDatabaseError(m.className, this.keys.prefix, label, `${elsewhere} worker(s) running it`));
      }
    } catch {
      // Redis refused or does not answer: start() says those on its own
    }
  }

  /** The names of the started machines (queues, Redis keys and payload rows go by them). */
  get machineNames(): string[] {
    return this.machines.map((m) => m.name);
  }

  /**
   * For writes the ORM never saw (raw SQL, bulk updates): treats each id as updated. `changedKeys` must include a
   * field some machine watches (a ConfigurationError lists them otherwise); omit it to count every field as changed.
   */
  async notifyChanged(entity: EntityClass | string, ids: string | number | bigint | Array<string | number | bigint>, changedKeys?: string[]): Promise<void> {
    this.refuseClosed('notifyChanged');
    const changes = notifiedChanges(this.machines, entity, ids, changedKeys);
    if (changes.length === 0) return;
    try {
      await this.patiently(this.track(this.requesting(() => this.router.route(changes), true)));
    } catch (error) {
      // A key of the wrong type is named with the fix, as status() names it (a trial read Redis' bare WRONGTYPE).
      throw unanswered(await refusedRead(this.redis, this.keys, error, 'notifyChanged: Redis refused it', this.machines),
        'notifyChanged', this.redisAt, `the ${changes.length} change(s) may not be recorded`);
    }
  }

  /**
   * Dry run: builds the current payloads of a machine's subjects (all, `ids` or `where`; paged by primary key) and
   * compares them with the payload store. Publishes nothing, writes nothing, touches no Redis key.
   */
  async reconcile(machine: MachineRef, options: ReconcileOptions = {}): Promise<ReconcileReport> {
    this.refuseClosed('reconcile');
    return inContext(this.adapter, () => reconcileMachine(this.adapter, this.machineFor(machine), options));
  }

  /** Backfill: enqueues an EnsurePublication for every subject (or `ids`); `force` publishes unchanged payloads too. */
  async resync(machine: MachineRef, options: ResyncOptions = {}): Promise<{ enqueued: number }> {
    this.refuseClosed('resync');
    const def = this.machineFor(machine);
    const request = encodeRequest({ force: options.force });
    // A full resync recovers from a data loss: once it is recorded, status no longer says one found before it began.
    // Its start is read before the first page (after the options were checked): a loss found later stays said.
    const full = options !== null && typeof options === 'object' && options.ids === undefined && options.where === undefined;
    let since: Promise<number> | undefined;
    // Read beside the first page, not before it: a Redis that does not answer is said by the pages.
    const told = this.tellOtherDefinitions(def);
    try {
      const enqueued = await resyncSubjects(this.adapter, def, options, async (ids) => {
        if (full) await (since ??= redisNowMs(this.redis));
        await this.patiently(this.requesting(() => this.enqueuer.request(def.name, 'ensure-publication', ids.map((id) => [id, request])), true));
      });
      if (full) {
        const began = await (since ?? redisNowMs(this.redis));
        await clearResyncNotices(this.redis, this.keys, def.name, began);
      }
      return enqueued;
    } catch (error) {
      throw unanswered(await refusedRead(this.redis, this.keys, error, `resync(${def.className}): Redis refused it`, [def]),
        `resync(${def.className})`, this.redisAt, 'the pages recorded before it are pending, the rest are not (a resync ' +
        'again costs no API call for the unchanged ones)');
    } finally {
      await told;
    }
  }

  /**
   * Warns when live workers run another definition of the machine than this process (a deploy under way, or a worker
   * left on old code): they build the subjects they run with their own code, so this resync sends those in the old
   * shape, or finds them unchanged. A trial's resync with one old worker left sent 2,000 of 3,000 orders in no new
   * shape, nothing said. Best effort, at most a second: the resync goes on either way.
   */
  private async tellOtherDefinitions(def: MachineDefinition): Promise<void> {
    let counts: DefinitionCount[];
    try {
      counts = await withTimeout(readDefinitions(this.redis, this.keys, def.name, definitionDigest(def)), 1_000);
    } catch {
      return;
    }
    const other = counts.filter((c) => !c.thisProcess).reduce((n, c) => n + c.workers, 0);
    if (other === 0) return;
    const all = counts.reduce((n, c) => n + c.workers, 0);
    this.logger.warn(`resync(${def.className}): ${other} of the ${all} worker(s) running it run another definition of it ` +
      "than this process (the source of its @Build, @CheckPublishable or @SubjectIdsFrom, its listened fields or " +
      'relations differ): a deploy under way, or a worker left on old code? The subjects they take are built by their ' +
      'code, published in its shape or found unchanged, and stay so. Stop those workers (or let the deploy finish) and ' +
      `resync again then; \`npx sync-machine diff ${def.className}\` lists the subjects whose payload differs from ` +
      "this process' build.");
  }

  /** Per machine: queue depths, outcome counters, the latest publishes and the latest failures with their errors. */
  async status(options: StatusOptions = {}): Promise<MachineStatus[]> {
    this.refuseClosed('status');
    refuseUnknownOptions(options, ['machines', 'limit'], 'status(options)');
    if (options.machines !== undefined && !Array.isArray(options.machines)) {
      throw new ConfigurationError(`status({ machines }) takes an array of machines (names, classes or instances), got ${shownValue(options.machines)}.`);
    }
    if (options.limit !== undefined && !(Number.isInteger(options.limit) && options.limit >= 0)) {
      throw new ConfigurationError(`status({ limit }) must be a whole number, 0 or more, got ${shownValue(options.limit)}.`);
    }
    const defs = options.machines?.map((m) => this.machineFor(m)) ?? this.machines;
    return this.patiently(Promise.all(defs.map((def) =>
      readMachineStatus(this.redis, this.keys,
        { name: def.name, subject: def.subjectInfo.name, className: def.className, definition: definitionDigest(def) },
        options.limit ?? 5)))).catch((error: unknown) => { throw unanswered(error, 'status', this.redisAt, 'nothing was read'); });
  }

  /**
   * Machines Redis holds counters of under this prefix that this runtime does not start (renamed or removed from the
   * app), with their items pending and in runs and their live workers: work left there is run by no worker of this
   * config (a trial's rename stranded 330 items, which nothing showed). At most 2 s (it scans the keyspace).
   */
  async otherMachines(): Promise<OtherMachineWork[]> {
    this.refuseClosed('otherMachines');
    return otherMachinesWork(this.redis, this.keys, await otherMachines(this.redis, this.keys, this.machineNames));
  }

  /** One subject's last publish (from the payload store), whether work for it is pending, and its failure if any. */
  async subjectStatus(machine: MachineRef, subjectId: string | number | bigint): Promise<SubjectStatus> {
    this.refuseClosed('subjectStatus');
    const def = this.machineFor(machine);
    // '4x' for an integer key would read as a subject never published: refused, as resync() refuses it.
    const [id] = checkedIds([subjectId], def.subjectInfo, `subjectStatus(${def.className}, id)`);
    try {
      return await this.patiently(readSubjectStatus({
        redis: this.redis, keys: this.keys, payloads: this.adapter.payloads,
        machine: { name: def.name, subject: def.subjectInfo.name },
        // A row the ORM cannot load (a column it cannot read) is there all the same: its failure record says why.
        exists: (subjectId) => this.adapter.load(def.subject, [subjectId]).then((rows) => rows.size > 0, () => true),
      }, id));
    } catch (error) {
      throw unanswered(await refusedRead(this.redis, this.keys, error, `subjectStatus(${def.className}, ${id}): Redis refused to read it`, [def]),
        `subjectStatus(${def.className}, ${id})`, this.redisAt, 'nothing was read');
    }
  }

  /**
   * Runs a machine's failed subjects (and changed rows, of one `step` or both) again with fresh attempts; each run
   * loads and builds from current data. Resolves how many went back per step.
   */
  async retryFailed(machine: MachineRef, options: { step?: Step } = {}): Promise<Partial<Record<Step, number>>> {
    this.refuseClosed('retryFailed');
    const def = this.machineFor(machine);
    refuseUnknownOptions(options, ['step'], `retryFailed(${def.className}, options)`);
    if (options.step !== undefined && !STEPS.includes(options.step)) {
      throw new ConfigurationError(`retryFailed: step "${String(options.step)}" is not one of ${STEPS.join(', ')}.`);
    }
    try {
      return await this.patiently(takeFailures(this.redis, this.keys, def.name, options.step ? [options.step] : STEPS,
        (step, requests) => this.requesting(() => this.enqueuer.request(def.name, step, requests), true)));
    } catch (error) {
      // A failure goes from the failed set only once it is pending again: what was not taken is still recorded.
      throw unanswered(await refusedRead(this.redis, this.keys, error, `retryFailed(${def.className}): Redis refused it, and ` +
        'the failures it did not take are still recorded', [def]), `retryFailed(${def.className})`, this.redisAt,
      'the failures it did not take are still recorded');
    }
  }

  /**
   * Resolves once the changes captured here are recorded and no subject or changed row of these machines is pending
   * or in a run (those waiting for a retry count, failed ones do not), with what the runs that ended meanwhile did,
   * in any process: since the call, or since this runtime's first request after its last drain when that is earlier.
   * Rejects with DrainTimeoutError after `timeoutMs`, also while Redis does not answer.
   */
  async drain(options: DrainOptions = {}): Promise<DrainSummary> {
    this.refuseClosed('drain');
    refuseUnknownOptions(options, ['timeoutMs'], 'drain(options)');
    const { timeoutMs } = options;
    // 0 could only ever time out (even reading Redis takes longer), and then blamed Redis.
    if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs > 0))) {
      throw new ConfigurationError(`drain({ timeoutMs }) must be a number of milliseconds above 0, got ${shownValue(timeoutMs)}; ` +
        'omit it to wait as long as it takes.');
    }
    const opened = this.unreported;
    this.unreported = undefined;
    // A drain that times out reported nothing: the next one reports from the same reading.
    const unreport = (error: unknown) => { if (error instanceof DrainTimeoutError) this.unreported ??= opened; throw error; };
    const summary = await drainMachines({
      redis: this.redis, keys: this.keys, redisAt: this.redisAt, hasWorker: this.worker !== undefined,
      machines: this.machineScope,
      captured: async () => { while (this.pending.size > 0) await Promise.allSettled([...this.pending]); },
      opened,
      // A request made during this drain had its runs reported here: the next drain reports from this reading.
      ended: (reading) => { if (this.unreported) this.unreported = Promise.resolve(reading); },
      lookForLoss: async () => this.dataLoss?.lookNow(),
      warn: (message) => this.logger.warn(message),
      alsoBusy: async () => {
        const busy: string[] = [];
        this.relay?.nudge();
        const outboxRows = this.relay ? await this.adapter.outbox.count() : 0;
        if (outboxRows > 0) busy.push(`${outboxRows} change(s) in sync_machine_outbox not yet moved to Redis`);
        // A run whose lock and claims another worker took over (it stalled) is still in flight here.
        if (this.running.size > 0) busy.push(`${this.running.size} run(s) still in flight in this process`);
        return busy;
      },
      pauser: () => {
        const seen = this.running.ended;
        return (ms) => this.running.nextEnd(ms, seen);
      },
    }, options.timeoutMs).catch(unreport);
    summary.dropped = [...this.dropped.values()];
    this.dropped.clear();
    return summary;
  }

  /** Stops capturing and taking jobs, lets running jobs finish, closes every connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Still subscribed while closing: a transaction committing now is logged as dropped, not lost silently.
      await Promise.allSettled([...this.pending]);
      await this.relay?.close();
      await this.stopWorker();
      this.unsubscribe?.();
      this.droppedLines.sayNow(this);
      this.availability?.close(); // before quitting: our own quit is no outage
      await this.dataLoss?.close();
      // QUIT waits in ioredis' offline queue for a Redis that is down (4.5 s here); there is nothing to tell it.
      if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
      else this.redis.disconnect();
    })();
    return this.closing;
  }

  /**
   * close()'s first part alone: the worker takes no more work, hands back the publishes that wait for a slot, and
   * lets the runs in flight finish (up to `worker.closeTimeoutMs`), while capture goes on until close(). For a host
   * that closes the app's database after its last requests end (SyncMachineModule calls it in
   * beforeApplicationShutdown, and close() in onApplicationShutdown). Idempotent; nothing to do without `worker`.
   */
  stopWorker(): Promise<void> {
    this.workerStopping ??= (async () => {
      this.stopping.now = true;
      this.stopPublishing?.();
      this.wakes?.stop(); // lingering tickets end now
      // Other workers hand nothing more to this one. Not waited for: sent before QUIT, it needs no answer to go first,
      // and a Redis that does not answer must not hold close() (an entry left expires on its own).
      void this.roll?.leave();
      const closeTimeoutMs = this.worker?.closeTimeoutMs ?? 5000;
      if (this.queues && await this.queues.close(await this.runsOutWithoutRedis(closeTimeoutMs))) {
        // Runs still in flight (a hook or publish that has not returned) go on without Redis, and end quietly.
        this.stopping.closed = true;
        const runs = this.running.described;
        if (runs.length > 0) {
          this.logger.warn(`close(): ${runs.length} run(s) still in flight after worker.closeTimeoutMs (${closeTimeoutMs} ms): ` +
            `${runs.join(', ')}. A hook or publish of theirs has not returned (a run's subjects are counted until its last ` +
            'ends: some may be waiting for a publish slot, not in a call); they end without Redis. Their subjects stay ' +
            `locked for up to worker.lockTtlMs (${this.worker!.lockTtlMs} ms), then a worker runs them again (one whose payload ` +
            'was stored meanwhile is found unchanged). Give @Publish a timeout, or raise worker.closeTimeoutMs.');
        }
      }
    })();
    return this.workerStopping;
  }

  /**
   * How long close() still waits for the queues. With Redis down, a ticket with no batch in hand (lingering, idle)
   * ends only by telling Redis, and held close() for the whole closeTimeoutMs, silently, though nothing ran: a
   * worker stopped during an outage outlived a 30 s grace period. So the runs in flight are waited for here (their
   * publishes store in the database), up to the timeout, and the queues then close at once; Bee-Queue's stall
   * check re-runs the tickets that could not say they ended, which find their work where it was.
   */
  private async runsOutWithoutRedis(closeTimeoutMs: number): Promise<number> {
    if (!this.availability || this.availability.available) return closeTimeoutMs;
    const until = performance.now() + closeTimeoutMs;
    while (this.running.size > 0 && performance.now() < until) {
      await this.running.nextEnd(until - performance.now(), this.running.ended);
    }
    return 1;
  }

  /** Capture never fails the committed write: a failed enqueue is logged with every change it dropped. */
  private async capture(changes: CapturedChange[]): Promise<void> {
    if (this.closing) {
      this.noteDropped(changes);
      this.logDropped(changes, 'the runtime is closed');
      return;
    }
    try {
      // Refused at once while Redis is down or not answering, cut short if it goes down meanwhile or does not answer
      // in time: the time of one mark call for every 5,000 changes (a mark sends them in calls of that many).
      const timeoutMs = this.captureTimeoutMs * Math.max(1, Math.ceil(changes.length / MARK_CHUNK));
      await this.track(this.availability!.guard(() => this.requesting(() => this.router.route(changes)), timeoutMs));
    } catch (error) {
      this.noteDropped(changes, error instanceof RedisUnavailableError && error.sent);
      // Down: listed once, when Redis is back, instead of one log line per write.
      if (error instanceof RedisUnavailableError) {
        this.availability!.recordDropped(changes.map((c) => ({ entity: c.entity.name, id: c.id })), error.sent);
      }
      else this.logDropped(changes, await this.whyRefused(error));
    }
  }

  /**
   * `work` (a call's Redis work), waited for as long as Redis answers: every CALL_PATIENCE_MS it asks with a PING,
   * and a Redis silent for PING_PATIENCE_MS ends the wait with the error `unanswered` names (the work goes on, and
   * may yet be done). A slow database, with Redis answering, is waited for.
   */
  private async patiently<T>(work: Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await withTimeout(work, CALL_PATIENCE_MS);
      } catch (error) {
        if (!(error instanceof NoAnswerError)) throw error;
        const answers = await withTimeout(this.redis.ping(), PING_PATIENCE_MS).then(() => true, () => false);
        if (!answers) {
          work.catch(() => undefined); // given up on: its later rejection is not unhandled
          throw new RedisSilentError(CALL_PATIENCE_MS + PING_PATIENCE_MS, this.redis.status === 'ready');
        }
      }
    }
  }

  /** Why Redis refused an enqueue: a key of the wrong type is named with the fix (looked up only on that error). */
  private async whyRefused(error: unknown): Promise<string> {
    const refusal = writesRefused(error);
    if (refusal) return `${describeError(error)}: ${refusal}`;
    const fix = await wrongTypeFix(this.redis, this.keys, error, (wrong) => {
      const owners = this.machines.filter((m) => wrong.some((w) => w.key.startsWith(`${this.keys.prefix}:${m.name}:`)));
      return `resync ${owners.map((m) => m.className).join(', ') || 'the machine'}`;
    });
    return fix === undefined ? describeError(error) : `${describeError(error)}: ${fix}`;
  }

  /**
   * Sends this runtime's requests (`send` writes their first mark before it returns), then willRequest(): the read
   * follows that mark on the same connection.
   */
  private requesting(send: () => Promise<void>, sameTurn = false): Promise<void> {
    const sent = send();
    this.willRequest(sameTurn);
    return sent;
  }

  /**
   * With this runtime's first request since its last drain, reads the counters that drain() reports from: a run
   * that a commit, notifyChanged or resync caused may end before drain() is called (a resync of thousands publishes
   * its first batches while it still pages), and `await sync.resync(...); await sync.drain()` counts it too.
   * Called as the request's first mark has been written (requesting()). The read is built and written on the next
   * turn of the event loop, while the request waits for Redis to answer its mark: Redis runs it right behind the mark
   * (and any take this process sent meanwhile), before any run of those requests can end, as a run ends only after
   * its take has been answered. Or, with the outbox, as the commit's rows wait there, before the relay moves them.
   * Neither ahead of the mark nor in the same turn: a commit waits for its mark's answer, and a read ahead of it cost
   * a 1,000-row MikroORM commit up to 3 points; in the same turn, about 0.1 ms of its wait (bench/profile/
   * mikro-capture-parts.js: the commit hook 1.23-1.33 ms against 1.37-1.51 ms, three alternating runs).
   * The calls of the API (`sameTurn`) read in the same turn, which Redis runs right behind the mark with nothing of
   * another client's between: a worker in another process could take, run and finish a quick run before a read
   * sent a turn later, on a loaded machine, and drain() left its outcome out (a trial: 2-6 of 60 notifyChanged).
   */
  private willRequest(sameTurn = false): void {
    if (this.unreported) return;
    const read = () => readCounters({ redis: this.redis, keys: this.keys, machines: this.machineScope });
    // A drain() called before the read is written waits for it. One that fails with Redis down (with the outbox,
    // commits go on) is made again as Redis answers, before the relay has read the rows it will move; one Redis
    // refused while connected gives no reading, and drain() reads at its call.
    this.unreported = (sameTurn ? read() : new Promise<void>((resolve) => setImmediate(resolve)).then(read))
      .catch(() => (this.redis.status === 'ready' ? undefined : this.readWhenBack(read)));
  }

  /** `read` once Redis is ready again; undefined if it fails then too, or this runtime closes first. */
  private readWhenBack(read: () => Promise<CounterReading>): Promise<CounterReading | undefined> {
    return new Promise((resolve) => {
      const ready = () => {
        clearInterval(closed);
        read().then(resolve, () => resolve(undefined));
      };
      const closed = setInterval(() => {
        if (!this.closing) return;
        clearInterval(closed);
        this.redis.off('ready', ready);
        resolve(undefined);
      }, 1_000).unref();
      this.redis.once('ready', ready);
    });
  }

  private get machineScope(): Array<{ name: string; subject: string; className: string }> {
    return this.machines.map((m) => ({ name: m.name, subject: m.subjectInfo.name, className: m.className }));
  }

  /**
   * Remembers changes that capture dropped, for the next drain(); the first MAX_DROPPED_NAMES rows only. `sent`: they
   * were under way when Redis stopped answering, and may have been recorded after all; a row dropped for sure too is
   * said without it.
   */
  private noteDropped(changes: CapturedChange[], sent = false): void {
    for (const { entity, id } of changes) {
      const key = `${entity.name}\n${id}`;
      const noted = this.dropped.get(key);
      if (noted) {
        if (!sent) delete noted.maybeRecorded;
        continue;
      }
      if (this.dropped.size >= MAX_DROPPED_NAMES) continue;
      this.dropped.set(key, sent ? { entity: entity.name, id, maybeRecorded: true } : { entity: entity.name, id });
    }
  }

  private logDropped(changes: CapturedChange[], why: string): void {
    this.droppedLines.add(this, { changes, why });
  }

  /** The commits of one window that capture could not enqueue, one line per reason, every change named. */
  private sayDropped(drops: Array<{ changes: CapturedChange[]; why: string }>): void {
    const byWhy = new Map<string, CapturedChange[][]>();
    for (const { changes, why } of drops) {
      const commits = byWhy.get(why);
      if (commits) commits.push(changes);
      else byWhy.set(why, [changes]);
    }
    for (const [why, commits] of byWhy) {
      const changes = commits.flat();
      const list = changes.map((c) => `${c.op} ${c.entity.name} ${c.id}`).join(', ');
      const of = commits.length > 1 ? ` of ${commits.length} commits` : '';
      this.logger.error(`Could not enqueue ${changes.length} committed change(s)${of} (${why}); dropped: ${list}. ` +
        'Call notifyChanged() or resync() for them once Redis accepts them again.');
    }
  }

  private async track(work: Promise<void>): Promise<void> {
    this.pending.add(work);
    try {
      await work;
    } finally {
      this.pending.delete(work);
    }
  }

  /** A call on a closed runtime: its connections are gone, and it said so only as "Connection is closed" (or hung). */
  private refuseClosed(call: string): void {
    if (!this.closing) return;
    throw new ConfigurationError(`${call}(): this SyncMachines runtime was closed (close() was called), so it has no ` +
      'Redis connection any more: call it before close(), or start a new runtime with SyncMachines.start().');
  }

  private machineFor(machine: MachineRef): MachineDefinition {
    const def = this.machines.find((m) => m.name === machine || m.instance === machine || m.instance.constructor === machine);
    if (!def) {
      const name = typeof machine === 'string' ? machine
        : typeof machine === 'function' ? machine.name : (machine as object | undefined)?.constructor?.name ?? String(machine);
      throw new ConfigurationError(
        `${name} is not one of the started machines (${this.machines.map((m) => m.className).join(', ')}): ` +
        'pass it in SyncMachines.start({ machines }).');
    }
    return def;
  }
}

/** `run` in the adapter's unit of work for hooks (OrmAdapter.inContext), or as it is. */
function inContext<T>(adapter: OrmAdapter, run: () => Promise<T>): Promise<T> {
  return adapter.inContext ? adapter.inContext(run) : run();
}
