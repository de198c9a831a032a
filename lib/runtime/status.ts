import type Redis from 'ioredis';
import { listed } from '../errors';
import { itemName, STEPS } from '../pipeline/queues';
import { FailedTicket, readFailedTickets } from '../queue/bee-queue-storage';
import type { KeySpace, Step } from '../redis/keys';
import { lostRecord, redisNowMs } from '../redis/data-loss';
import { type UnreadableNotice, unreadableNotice } from '../redis/unreadable';
import { refusedRead } from '../redis/wrong-type';
import { FailedItem, readFailures } from './failures';
import { runWorker } from '../pipeline/batch-locks';
import { claimedSince, ingestInbox } from '../pipeline/work-queue';

/** Items of one step by state. */
export interface QueueCounts {
  /** Pending and ready to run. */
  waiting: number;
  /** Taken by a run that is working on them. */
  active: number;
  /** Pending but not ready yet: debounce, a retry's backoff, or a re-delay because the subject was locked. */
  delayed: number;
  /** Recorded as failed after their last attempt. */
  failed: number;
  /**
   * Run tickets in Bee-Queue's failed set: corrupt or malformed, they hold no work (that is in the work sets);
   * `failedJobs` lists at most the limit of them, and retryFailed clears them.
   */
  failedJobs: number;
}

/** A publish, as `status` lists it. */
export interface RecentPublish {
  subjectId: string;
  /** When it was stored, on Redis' clock. */
  at: Date;
}

/** What `SyncMachines.status()` reports for one machine. */
export interface MachineStatus {
  machine: string;
  /** The subject entity's name. */
  subject: string;
  queues: Record<Step, QueueCounts>;
  /**
   * Counters since the prefix was first used: `<step>:<outcome>` per item, `<step>:jobs` per run ticket,
   * `<step>:batches` per batch, `<step>:handed_back` per subject a worker handed back before its call (it runs again,
   * and is counted again by its outcome there).
   */
  outcomes: Record<string, number>;
  /**
   * Worker processes (runtimes started with `worker`) running the machine now: each keeps an entry on the machine's
   * roll, renewed every second; one that stopped without close() (killed) counts for up to 5 s more.
   */
  workers: number;
  /**
   * Present while the live workers run more than one definition of the machine, or one other than this process'
   * (the source of its @Build, @CheckPublishable or @SubjectIdsFrom, its listened fields or relations differ: a
   * deploy under way, or a worker left on old code): each with how many workers run it, and `thisProcess` for the
   * one this process runs. A resync run meanwhile is built partly by the other code (lib/metadata/definition-digest.ts).
   */
  definitions?: DefinitionCount[];
  /** Newest first. */
  lastPublishes: RecentPublish[];
  /** Newest first, at most the limit asked for; `queues[step].failed` has the full counts. */
  failures: FailedItem[];
  /**
   * When a runtime found that Redis had lost the data it held (a restart without persistence, a FLUSHALL): the
   * changes recorded and not yet run then are gone, so subjects may be stale. Stays until a full `resync` of the
   * machine is recorded; absent otherwise.
   */
  dataLost?: Date;
  /**
   * With dataLost: the loss was found as a prefix new to this database reads (Redis held no record of the machine,
   * the payload table held subjects it published), so nothing may have been lost; a full `resync` ends it all the same.
   */
  dataLostMaybeNewPrefix?: true;
  /**
   * Inbox entries that no script could read (written by hand, or by another version), found since the last full
   * `resync` of the machine: how many, and when the latest was found. The changes in them may be missing, so
   * subjects may be stale although nothing is pending or failed; a full resync covers them and ends the notice.
   */
  unreadable?: UnreadableNotice;
  /**
   * Run tickets (Bee-Queue jobs) failed for good: malformed data or a corrupt envelope, each with the queue, job
   * id and what was wrong; newest first, at most the limit. They hold no work (that is in the work sets).
   */
  failedJobs: FailedTicket[];
  /**
   * The items in runs that have run longest, longest first, at most the limit: `id` is the subject id
   * (ensure-publication) or `<Entity>:<id>` (find-subjects). A publish that never returns shows here for minutes.
   */
  longestRunning: RunningItem[];
}

/** Live workers running one definition of a machine (MachineStatus.definitions). */
export interface DefinitionCount {
  /** The definition's digest (lib/metadata/definition-digest.ts). */
  definition: string;
  workers: number;
  /** This process runs this definition. */
  thisProcess: boolean;
}

/** An item in a run (MachineStatus.longestRunning). */
export interface RunningItem {
  step: Step;
  id: string;
  forMs: number;
  /**
   * The run's worker is off the machine's roll of live workers (lib/pipeline/worker-roll.ts): killed, or its event
   * loop blocked for 5 s or more. Its items run again once another worker finds its ticket stalled and its locks expire.
   */
  workerGone?: true;
}

/**
 * Reads one machine's status from Redis: one pipelined round trip for the counts, then the lists. A key of the
 * machine that holds the wrong type fails it with a WrongKeyTypeError that names the key and the fix. `className`
 * names the machine in that message (its name by default).
 */
export async function readMachineStatus(
  redis: Redis, keys: KeySpace, machine: StatusOf, limit: number,
): Promise<MachineStatus> {
  try {
    return await readStatus(redis, keys, machine, limit);
  } catch (error) {
    throw await refusedRead(redis, keys, error, `status of ${machine.className ?? machine.name}: Redis refused to read it`, [machine]);
  }
}

/** The machine status reads: `definition`, the digest of this process' definition of it (MachineStatus.definitions). */
interface StatusOf {
  name: string;
  subject: string;
  className?: string;
  definition?: string;
}

async function readStatus(redis: Redis, keys: KeySpace, machine: StatusOf, limit: number): Promise<MachineStatus> {
  // Commits' items still in the inbox are sorted in first, as the next take would: counted there, a subject changed
  // by several commits counted once per commit (a trial read 650 waiting for 600 subjects).
  // Redis' clock, as the scripts score pending items and stamp claims with it: a host whose clock is off would count
  // items ready that are not, and runs' times off by as much.
  const [now] = await Promise.all([redisNowMs(redis), ...STEPS.map((step) => ingestInbox(redis, keys.step(machine.name, step)))]);
  const pipeline = redis.pipeline();
  for (const step of STEPS) {
    const k = keys.step(machine.name, step);
    pipeline.zcount(k.pending, '-inf', now).zcard(k.pending).hgetall(k.claims).hlen(k.failed).get(k.inboxed)
      .scard(keys.queueKey(machine.name, step, 'failed'));
  }
  pipeline.hgetall(keys.stats(machine.name));
  pipeline.lrange(keys.recentPublishes(machine.name), 0, Math.max(0, limit - 1));
  pipeline.get(keys.dataLost(machine.name));
  pipeline.zrange(keys.workers(machine.name), 0, -1, 'WITHSCORES');
  pipeline.hgetall(keys.unreadable(machine.name));
  pipeline.zrange(keys.definitions(machine.name), 0, -1, 'WITHSCORES');
  const results = (await pipeline.exec()) ?? [];
  for (const [error] of results) if (error) throw error;
  const values = results.map(([, value]) => value);

  const queues = {} as Record<Step, QueueCounts>;
  const perStep = 6;
  const live = liveWorkers(values[STEPS.length * perStep + 3], now);
  const running: RunningItem[] = [];
  STEPS.forEach((step, i) => {
    const [ready, pending, claims, failed, inboxed, failedJobs] = values.slice(i * perStep, (i + 1) * perStep);
    const claimed = claimedSince(claims as Record<string, string>);
    for (const { run, item, since } of claimed) {
      running.push({ step, id: item, forMs: Math.max(0, now - since), ...(workerGone(run, live) ? { workerGone: true } : {}) });
    }
    // Items of commits that reached the inbox since it was sorted in are ready too.
    queues[step] = {
      waiting: Number(ready) + Number(inboxed ?? 0), active: claimed.length,
      delayed: Number(pending) - Number(ready), failed: Number(failed), failedJobs: Number(failedJobs),
    };
  });
  const outcomes: Record<string, number> = {};
  for (const [field, count] of Object.entries((values[STEPS.length * perStep] ?? {}) as Record<string, string>).sort()) {
    outcomes[field] = Number(count);
  }
  // "<ms> <subject id>" each; an entry not of that form (written by hand) is left out: its time made status throw.
  const lastPublishes = limit <= 0 ? [] : (values[STEPS.length * perStep + 1] as string[]).flatMap((entry) => {
    const space = entry.indexOf(' ');
    const at = new Date(Number(entry.slice(0, space)));
    return space > 0 && Number.isFinite(at.getTime()) ? [{ subjectId: entry.slice(space + 1), at }] : [];
  });
  const failures = await readFailures(redis, keys, machine.name, machine.subject, STEPS, limit);
  const failedJobs = (await Promise.all(STEPS.map((step) => readFailedTickets(redis, keys, machine.name, step, limit))))
    .flat().sort((a, b) => b.at.getTime() - a.at.getTime()).slice(0, limit);
  const longestRunning = running.filter((r) => Number.isFinite(r.forMs)).sort((a, b) => b.forMs - a.forMs).slice(0, Math.max(0, limit));
  const workers = live.size;
  const status: MachineStatus = {
    machine: machine.name, subject: machine.subject, queues, outcomes, workers, lastPublishes, failures, failedJobs, longestRunning,
  };
  // A value not of sync-machine's form (written by hand) is left out, as a bad latest-publishes entry is.
  const lost = lostRecord(values[STEPS.length * perStep + 2]);
  if (lost) status.dataLost = lost.at;
  if (lost?.maybeNewPrefix) status.dataLostMaybeNewPrefix = true;
  const unreadable = unreadableNotice(values[STEPS.length * perStep + 4]);
  if (unreadable) status.unreadable = unreadable;
  const definitions = definitionCounts(values[STEPS.length * perStep + 5], now, machine.definition);
  if (definitions.length > 1 || (definitions.length === 1 && !definitions[0].thisProcess && machine.definition)) {
    status.definitions = definitions;
  }
  return status;
}

/**
 * The definitions the live workers run (a ZRANGE WITHSCORES reply of KeySpace.definitions), most workers first;
 * `ours`: this process' digest.
 */
export function definitionCounts(entries: unknown, now: number, ours: string | undefined): DefinitionCount[] {
  const flat = (entries ?? []) as string[];
  const counts = new Map<string, number>();
  for (let i = 0; i < flat.length; i += 2) {
    if (Number(flat[i + 1]) <= now) continue;
    const definition = flat[i].slice(0, flat[i].indexOf(' '));
    counts.set(definition, (counts.get(definition) ?? 0) + 1);
  }
  return [...counts].map(([definition, workers]) => ({ definition, workers, thisProcess: definition === ours }))
    .sort((a, b) => b.workers - a.workers || (a.definition < b.definition ? -1 : 1));
}

/** How many live workers of `machine` work on another database than `ours` (a database digest; worker-roll.ts). */
export async function workersOnOtherDatabases(redis: Redis, keys: KeySpace, machine: string, ours: string): Promise<number> {
  const [now, entries] = await readDefinitionEntries(redis, keys, machine);
  let elsewhere = 0;
  for (let i = 0; i < entries.length; i += 2) {
    const database = entries[i].split(' ')[1];
    if (Number(entries[i + 1]) > now && database && database !== ours) elsewhere += 1;
  }
  return elsewhere;
}

/** The definitions live workers run of `machine`, as status reads them (resync's check before it pages). */
export async function readDefinitions(redis: Redis, keys: KeySpace, machine: string, ours: string): Promise<DefinitionCount[]> {
  const [now, entries] = await readDefinitionEntries(redis, keys, machine);
  return definitionCounts(entries, now, ours);
}

/** Redis' clock and the machine's definitions entries (a ZRANGE WITHSCORES reply), read together. */
function readDefinitionEntries(redis: Redis, keys: KeySpace, machine: string): Promise<[number, string[]]> {
  return Promise.all([redisNowMs(redis), redis.zrange(keys.definitions(machine), 0, -1, 'WITHSCORES')]);
}

/** A machine's step with items pending or in runs (readBusy). */
export interface BusyStep {
  machine: string;
  step: Step;
  /** Pending, ready or not, with the items of commits still in the inbox. */
  pending: number;
  /** Batches taken by runs that have not finished. */
  batches: number;
}

/** Items pending or being worked on, per machine and step, for drain(): one round trip. */
export async function readBusy(redis: Redis, keys: KeySpace, machines: string[]): Promise<BusyStep[]> {
  const pipeline = redis.pipeline();
  const order: Array<[string, Step]> = [];
  // Upstream first: an item moving downstream after its step was read is seen in the next one.
  for (const step of STEPS) {
    for (const machine of machines) {
      const k = keys.step(machine, step);
      pipeline.zcard(k.pending).get(k.inboxed).hlen(k.claims);
      order.push([machine, step]);
    }
  }
  const results = (await pipeline.exec()) ?? [];
  for (const [error] of results) if (error) throw error;
  const busy: BusyStep[] = [];
  order.forEach(([machine, step], i) => {
    // A claim per running batch: counted, not read, since drain() asks often.
    const [pending, batches] = [Number(results[i * 3][1]) + Number(results[i * 3 + 1][1] ?? 0), Number(results[i * 3 + 2][1])];
    if (pending + batches > 0) busy.push({ machine, step, pending, batches });
  });
  return busy;
}

/** How drain()'s timeout names a busy step. */
export function sayBusy({ machine, step, pending, batches }: BusyStep): string {
  return `${machine} ${step}: ${pending} pending, ${batches} batch(es) in runs`;
}

/**
 * The workers on a roll (a ZRANGE WITHSCORES reply) whose entries have not expired at `now` (Redis' clock, as the
 * entries are): roll-2.lua removes expired entries only when a worker renews its own.
 */
function liveWorkers(roll: unknown, now: number): Set<string> {
  const flat = (roll ?? []) as string[];
  const live = new Set<string>();
  for (let i = 0; i < flat.length; i += 2) if (Number(flat[i + 1]) > now) live.add(flat[i]);
  return live;
}

/** Whether the worker of `run` (a claim's field) is off the roll: only for a run id that names its worker. */
function workerGone(run: string, live: Set<string>): boolean {
  const worker = runWorker(run);
  return worker !== undefined && !live.has(worker);
}

/** What drain()'s timeout reads of the runs and the workers (readRunning). */
export interface RunsRead {
  /** Per machine and step, the items in runs, the longest running first, with how long they have run. */
  running: string[];
  /** Per machine, the items of runs whose workers are gone. */
  workerGone: Map<string, number>;
  /** The live workers on each machine's roll, in the machines' order; undefined when a roll could not be read. */
  workers?: number[];
}

/**
 * For drain()'s timeout: per machine and step, the items in runs, the longest running first, with how long they have
 * run (a publish that does not return shows here, for minutes), the items per machine of runs whose workers are
 * gone (killed, say: they wait for a stall check and their locks' expiry), and how many workers each machine's roll
 * holds. Reads every claim: only once, at the end.
 */
export async function readRunning(
  redis: Redis, keys: KeySpace, machines: Array<{ name: string; subject: string }>,
): Promise<RunsRead> {
  const now = await redisNowMs(redis);
  const pipeline = redis.pipeline();
  for (const machine of machines) pipeline.zrange(keys.workers(machine.name), 0, -1, 'WITHSCORES');
  const order: Array<[number, Step]> = [];
  for (const step of STEPS) {
    machines.forEach((machine, m) => {
      pipeline.hgetall(keys.step(machine.name, step).claims);
      order.push([m, step]);
    });
  }
  const results = (await pipeline.exec()) ?? [];
  // A roll that cannot be read (a key of another type) tells nothing: no run is said to be a gone worker's.
  const live = machines.map((_, m) => (results[m][0] ? undefined : liveWorkers(results[m][1], now)));
  const workers = live.every((l) => l !== undefined) ? live.map((l) => l!.size) : undefined;
  const running: string[] = [];
  const gone = new Map<string, number>();
  order.forEach(([m, step], i) => {
    const machine = machines[m];
    const [error, claims] = results[machines.length + i];
    if (error) return;
    let items: Array<{ run: string; item: string; since: number }>;
    try {
      items = claimedSince(claims as Record<string, string>).sort((a, b) => a.since - b.since);
    } catch {
      return; // a claim written by hand: take and reap deal with it
    }
    if (items.length === 0) return;
    const named = items.map(({ run, item, since }) => {
      const said: string[] = [];
      if (Number.isFinite(since)) said.push(`${((now - since) / 1000).toFixed(1)} s`);
      if (live[m] && workerGone(run, live[m])) {
        gone.set(machine.name, (gone.get(machine.name) ?? 0) + 1);
        said.push('its worker is gone');
      }
      const what = itemName(step, machine.subject, item);
      return said.length > 0 ? `${what} (${said.join(', ')})` : what;
    });
    running.push(`${machine.name} ${step}: ${listed(named, 5)}`);
  });
  return { running, workerGone: gone, ...(workers ? { workers } : {}) };
}

/**
 * For drain()'s timeout: per machine and step, the pending items not ready yet (a retry's backoff, or a lock's
 * expiry they wait for) and when the first of them is; and whether any pending item is ready (a worker would take it).
 */
export async function readWaiting(redis: Redis, keys: KeySpace, machines: string[]): Promise<{ waiting: string[]; anyReady: boolean }> {
  const now = await redisNowMs(redis);
  const pipeline = redis.pipeline();
  const order: Array<[string, Step]> = [];
  for (const step of STEPS) {
    for (const machine of machines) {
      const k = keys.step(machine, step);
      pipeline.zcount(k.pending, '-inf', now).get(k.inboxed).zrangebyscore(k.pending, `(${now}`, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
        .zcount(k.pending, `(${now}`, '+inf');
      order.push([machine, step]);
    }
  }
  const results = (await pipeline.exec()) ?? [];
  for (const [error] of results) if (error) throw error;
  const waiting: string[] = [];
  let anyReady = false;
  order.forEach(([machine, step], i) => {
    const [ready, inboxed, first, later] = results.slice(i * 4, i * 4 + 4).map(([, value]) => value);
    if (Number(ready) + Number(inboxed ?? 0) > 0) anyReady = true;
    if (Number(later) === 0) return;
    const inMs = Number((first as string[])[1]) - now;
    waiting.push(`${machine} ${step}: ${later} not ready for another ${(inMs / 1000).toFixed(1)} s`);
  });
  return { waiting, anyReady };
}

