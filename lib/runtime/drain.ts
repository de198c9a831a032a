import type Redis from 'ioredis';
import { NoAnswerError, withTimeout } from '../at-most';
import { describeError, DrainTimeoutError, listed, WrongKeyTypeError } from '../errors';
import { STEPS } from '../pipeline/queues';
import type { KeySpace } from '../redis/keys';
import { readResyncNotices } from '../redis/resync-notices';
import { isWrongTypeError, keysOfWrongType, refusedRead, sayWrongTypes } from '../redis/wrong-type';
import { readFailuresSince } from './failures';
import { type BusyStep, readBusy, readRunning, readWaiting, sayBusy } from './status';

/** A subject whose runs used up their attempts during a drain. */
export interface DrainFailure {
  machine: string;
  subjectId: string;
  error: string;
  attempts: number;
  at: Date;
}

/** A changed row whose subjects could not be found (its `@SubjectIdsFrom` failed every attempt) during a drain. */
export interface DrainChangeFailure {
  machine: string;
  entity: string;
  id: string;
  error: string;
  attempts: number;
  at: Date;
}

/** A row whose captured change was not enqueued (DrainSummary.dropped). */
export interface DroppedChange {
  entity: string;
  id: string;
  /**
   * Its change was under way when Redis stopped answering (`captureTimeoutMs`), so it may have been recorded after
   * all (the client sends it again on reconnecting); absent when a change of the row was dropped for sure.
   * `notifyChanged` it all the same: a change recorded twice costs no API call.
   */
  maybeRecorded?: true;
}

/**
 * What `drain()` resolves: the runs that ended between the call (or, when earlier, the runtime's first request since
 * its last drain) and the moment nothing was left to do.
 */
export interface DrainSummary {
  /**
   * Publication outcomes of all machines, summed: `published`, `unchanged`, `unpublished`, `not_publishable`,
   * `superseded`, `rescheduled`, and `failed` (failed *attempts*: a subject retried twice counts twice).
   * Read from Redis, so runs in other worker processes count too.
   */
  outcomes: Record<string, number>;
  /** Subjects recorded as failed (attempts used up) in that time; `retryFailed` runs them again. */
  failed: DrainFailure[];
  /** Changed rows recorded as failed in that time (their subjects were never requested). */
  failedChanges: DrainChangeFailure[];
  /**
   * Changes this runtime captured and could not enqueue since its previous drain() (Redis down or not answering,
   * the runtime closing), once per row: their subjects may be stale; `notifyChanged` or `resync` them. The log
   * names them too. Always empty with `capture: 'outbox'`, which keeps them.
   */
  dropped: DroppedChange[];
  /**
   * Machines whose Redis lost its data (a restart of a Redis that keeps nothing on disk, a FLUSHALL), found at `at`
   * and not fully resynced since: the changes recorded before then and not yet run are gone, so these outcomes do
   * not cover them and subjects may be stale although nothing is pending. `resync(Machine)` fixes them (unchanged
   * subjects cost no API call) and clears the entry. Empty when no loss stands. `maybeNewPrefix`: found as a prefix
   * new to this database reads (no record of the machine in Redis, subjects in the payload table): nothing may have
   * been lost; the resync ends it all the same.
   */
  dataLost: Array<{ machine: string; at: Date; maybeNewPrefix?: true }>;
  /**
   * Machines with inbox entries that no script could read (written by hand, or by another version), found since
   * their last full resync: the changes in them may be missing from these outcomes. `resync(Machine)` covers them
   * and clears the entry. Empty when none stands.
   */
  unreadable: Array<{ machine: string; count: number; at: Date }>;
}

export interface DrainScope {
  redis: Redis;
  keys: KeySpace;
  machines: Array<{ name: string; subject: string; className?: string }>;
  /** Where Redis is, for the timeout's message. */
  redisAt: string;
  /** Whether this runtime runs workers (the timeout's message asks for one otherwise). */
  hasWorker: boolean;
  /** Resolves when the changes captured by this runtime so far have been recorded (or dropped). */
  captured(): Promise<void>;
  /**
   * The counters as read with this runtime's first request since its last drain (before any of its runs could
   * end): reported from there when earlier than the call. Undefined (or a failed read): from the call.
   */
  opened?: Promise<CounterReading | undefined>;
  /** Receives the counters as read at the end, which a later drain may report from. */
  ended?(reading: CounterReading): void;
  /** Looks whether Redis lost its data since the last look (DataLossWatch.lookNow), before the summary reads it. */
  lookForLoss?(): Promise<void>;
  /**
   * What else keeps this runtime busy, outside the work sets: outbox rows, runs in flight in this process. While it
   * names anything, the work sets are not read.
   */
  alsoBusy?(): Promise<string[]>;
  /**
   * Called as a look at the work sets begins; what it returns waits before the next look: `ms`, or less when a run
   * in this process ended since the look began. Default: `ms`.
   */
  pauser?(): (ms: number) => Promise<void>;
  /** Where drain says, while it waits, that no worker runs machines with work ready (NoWorkerLook). */
  warn?(message: string): void;
  /** How long drain waits before it looks whether a worker runs the machines; default NO_WORKER_SAY_MS. */
  noWorkerSayMs?: number;
}

// Between looks: one pipelined read of three counters per machine and step, once nothing runs in this process.
const POLL_MS = 10;
/** Below this, a drain timeout that saw no error says its timeoutMs may be the cause. */
const SHORT_TIMEOUT_MS = 100;
/** Without a deadline a read still gives up after this long and is tried again: a dead socket cannot hang drain. */
const READ_CAP_MS = 5_000;
/** The look that a timeout makes for its message when runs in flight here spared the others. */
const LAST_LOOK_MS = 1_000;

class Deadline {
  private readonly at: number;
  constructor(readonly timeoutMs: number | undefined) {
    this.at = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  }

  get passed(): boolean {
    return Date.now() >= this.at;
  }

  /** Races `work` against the deadline (and the per-read cap); rejects with NoAnswerError when either passes first. */
  async bound<T>(work: Promise<T>, cap = READ_CAP_MS): Promise<T> {
    const ms = Math.max(0, Math.min(this.at - Date.now(), cap));
    if (ms === Infinity) return work; // no deadline, no cap: as long as it takes
    return withTimeout(work, ms);
  }
}

/**
 * Waits until nothing of these machines is pending or in a run, then says what the runs that ended meanwhile
 * did: the stats hashes are read at the call (or taken from `opened`) and at the end (the difference is what ended
 * in between, in any process), and failure records carry the Redis time they were written at. Every Redis read is
 * bounded, so an unreachable Redis rejects at the deadline instead of hanging.
 */
export async function drainMachines(scope: DrainScope, timeoutMs: number | undefined): Promise<DrainSummary> {
  const deadline = new Deadline(timeoutMs);
  const fail = (busy: string, workerHint = !scope.hasWorker ? WORKER_QUESTION : '') =>
    new DrainTimeoutError(`drain() timed out after ${timeoutMs} ms; ${busy}.${workerHint}`);
  /** Runs `read` until it answers; a failed or slow read is tried again until the deadline. */
  const retrying = async <T>(read: () => Promise<T>): Promise<T> => {
    // What Redis (or the socket) said, if anything: the last read is mostly cut off by the deadline itself, whose
    // "no answer within 0 ms" told nothing.
    let said: unknown;
    for (;;) {
      try {
        return await deadline.bound(read());
      } catch (error) {
        // A key of the wrong type never heals by waiting: said at once, naming it, not as a Redis that did not answer.
        if (isWrongTypeError(error)) {
          throw await refusedRead(scope.redis, scope.keys, error, 'drain(): Redis refused to read the work sets', scope.machines);
        }
        if (!(error instanceof NoAnswerError)) said = error;
        if (deadline.passed) {
          // A timeout shorter than a round trip is no sign of Redis: drain({ timeoutMs: 1 }) blamed a healthy one (a trial).
          const short = !said && (timeoutMs ?? Infinity) < SHORT_TIMEOUT_MS
            ? ` (with no error: is a timeoutMs of ${timeoutMs} ms shorter than a look at Redis takes?)` : '';
          throw new DrainTimeoutError(`drain() timed out after ${timeoutMs} ms: Redis at ${scope.redisAt} did not answer ` +
            `in that time${said ? ` (the last error: ${describeError(said)})` : short}. Is it running, and is the ` +
            '`redis` option right?', { cause: said ?? error });
        }
        await sleep(POLL_MS);
      }
    }
  };

  // A reading that does not answer in time is no reason to wait: the call's own reading is the next best.
  const opened = scope.opened && await deadline.bound(scope.opened).catch(() => undefined);
  const [since, before] = opened ?? await retrying(() => readCounters(scope));
  try {
    await deadline.bound(scope.captured(), Infinity);
  } catch (error) {
    if (!(error instanceof NoAnswerError)) throw error;
    throw fail('changes captured by this runtime are still being recorded in Redis');
  }
  const readWorkSets = () => readBusy(scope.redis, scope.keys, scope.machines.map((m) => m.name));
  let answered: BusyStep[] | undefined;
  const stuck = new StuckLook(scope);
  const noWorker = new NoWorkerLook(scope, timeoutMs);
  for (;;) {
    const pause = scope.pauser?.() ?? sleep;
    // The outbox first: a row moved to Redis after it is read is seen in the work sets.
    const also = (await scope.alsoBusy?.()) ?? [];
    // Busy here already: the work sets are read once this process has nothing in flight. Each read is a round trip
    // that Redis and this process pay for during the runs drain() waits for: a drain of an unchanged resync of 5,000
    // subjects on SQLite read them about 27 times, and skipping those reads made it 3-4% faster.
    let sets: BusyStep[] = [];
    let cutOff = '';
    if (also.length === 0) {
      try {
        sets = await retrying(readWorkSets);
      } catch (error) {
        // A look begun just before the deadline is cut off by it: what the last look saw is the answer, and
        // "Redis did not answer" would send the user to a Redis that answered 10 ms earlier.
        if (answered === undefined || !(error instanceof DrainTimeoutError)) throw error;
        const why = error.cause instanceof NoAnswerError ? ' before the deadline' : `: ${describeError(error.cause)}`;
        sets = answered;
        cutOff = ` (at the last look; Redis at ${scope.redisAt} did not answer the next one${why})`;
      }
      if (sets.length === 0) break;
      answered = sets;
      // Bounded as every read here: a Redis that stops answering meanwhile is said at the deadline, as above.
      await deadline.bound(stuck.check(sets)).catch((error: unknown) => { if (!(error instanceof NoAnswerError)) throw error; });
      await deadline.bound(noWorker.check(sets)).catch(() => undefined);
    }
    if (deadline.passed) {
      const names = scope.machines.map((m) => m.name);
      const brief = <T>(read: Promise<T>, otherwise: T) => new Deadline(LAST_LOOK_MS).bound(read).catch(() => otherwise);
      // Brief looks, side by side, for the message: at most LAST_LOOK_MS more, even with Redis gone. The first only
      // when runs in flight here spared the looks: it says what else waits in Redis.
      const [there, look, { running, workerGone, workers }] = await Promise.all([
        also.length > 0 ? brief(readWorkSets(), []) : [],
        // Pending items that wait for a time (a retry, or the lock of a run that stalled or was stopped) are no sign
        // of a missing worker: said so, and the worker question only when a ready item is left untaken. Asked after
        // a cut-off look too: a loaded machine's slow look is no reason to leave the answer out (CI did once).
        brief(readWaiting(scope.redis, scope.keys, names), undefined),
        // What the runs work on, and for how long (a publish that does not return shows as one item running for
        // minutes), and whether any worker runs them: each keeps an entry on its machines' rolls while it runs.
        brief(readRunning(scope.redis, scope.keys, scope.machines), { running: [], workerGone: new Map<string, number>() }),
      ]);
      // With runs in flight, an item may wait for the lock of one of them, which is not "not stuck" when that run
      // hangs (a trial: changes behind a publish that never returned read so).
      const waits = !look || look.waiting.length === 0 ? '' : running.length > 0
        ? `; waiting: ${look.waiting.join('; ')} (a retry's backoff, or the lock of a subject in a run: the runs above ` +
          'hold theirs while they run, and a run that stalled or was stopped up to worker.lockTtlMs)'
        : `; waiting, not stuck: ${look.waiting.join('; ')} (a retry's backoff, or a lock held by a run that stalled or ` +
          'was stopped, which lasts up to worker.lockTtlMs)';
      const runs = running.length > 0 ? `; in runs (for how long): ${running.join('; ')}${goneRuns(workerGone)}` : '';
      const inSets = [...sets, ...there];
      const left = [...also, ...inSets.map(sayBusy)].join('; ');
      const hint = workerHint(scope, new Set(inSets.map((b) => b.machine)), look?.anyReady ?? true, workerGone, workers);
      throw fail(`still busy: ${left}${cutOff}${runs}${waits}`, hint);
    }
    await pause(POLL_MS);
  }
  if (scope.lookForLoss) await deadline.bound(scope.lookForLoss()).catch(() => undefined);
  const [end, failures, notices] = await retrying(() => Promise.all([
    readCounters(scope),
    Promise.all(scope.machines.map((m) => readFailuresSince(scope.redis, scope.keys, m.name, m.subject, STEPS, since))),
    // A drain that resolves clean after Redis lost its data read as if all was done (a trial: 2,999 of 4,999
    // subjects stale, `{ published: 2000 }`, no failure): the loss stands in the summary until a full resync.
    readResyncNotices(scope.redis, scope.keys, scope.machines.map((m) => m.name)),
  ]));
  scope.ended?.(end);
  const summary: DrainSummary = {
    outcomes: diff(before, end[1]), failed: [], failedChanges: [], dropped: [],
    dataLost: [...notices.dataLost].map(([machine, { at, maybeNewPrefix }]) => ({ machine, at, ...(maybeNewPrefix ? { maybeNewPrefix: true as const } : {}) })),
    unreadable: [...notices.unreadable].map(([machine, notice]) => ({ machine, ...notice })),
  };
  scope.machines.forEach((machine, i) => {
    for (const f of failures[i]) {
      const { error, attempts, at } = f;
      if (f.step === 'ensure-publication') summary.failed.push({ machine: machine.name, subjectId: f.id, error, attempts, at });
      else summary.failedChanges.push({ machine: machine.name, entity: f.entity, id: f.id, error, attempts, at });
    }
  });
  return summary;
}

/** How long the work sets read the same before drain looks for keys of the wrong type, and how often it looks again. */
const STUCK_MS = 2_000;
const STUCK_LOOK_EVERY_MS = 5_000;

/**
 * A key of the wrong type that the work sets' reads do not touch (an inbox) stops every run, and drain waited out
 * its timeout (a trial: 120 s, then "in runs: Order 193 (146.1 s)" of runs that had stopped). When a step's work set
 * reads the same for STUCK_MS (per step: another step's changing, with writes going on, hid it from a trial), it
 * looks (one TYPE per key of the machines), and names such keys at once, with the fix.
 */
class StuckLook {
  /** Per machine and step: what its work set read, and since when. */
  private readonly seen = new Map<string, { read: string; since: number }>();
  private looked = -Infinity;

  constructor(private readonly scope: DrainScope) {}

  async check(sets: BusyStep[]): Promise<void> {
    const now = performance.now();
    let stuckFor = 0;
    for (const set of sets) {
      const key = `${set.machine}\n${set.step}`;
      const read = `${set.pending}/${set.batches}`;
      const was = this.seen.get(key);
      if (was?.read === read) stuckFor = Math.max(stuckFor, now - was.since);
      else this.seen.set(key, { read, since: now });
    }
    if (stuckFor < STUCK_MS || now - this.looked < STUCK_LOOK_EVERY_MS) return;
    this.looked = now;
    const { redis, keys, machines } = this.scope;
    const wrong = await keysOfWrongType(redis, keys, machines.flatMap((m) => keys.machineKeys(m.name)));
    if (wrong.length === 0) return;
    const named = machines.filter((m) => wrong.some((w) => w.key.startsWith(`${keys.prefix}:${m.name}:`)))
      .map((m) => m.className ?? m.name);
    throw new WrongKeyTypeError(`drain(): work has not moved for ${Math.round(stuckFor / 1000)} s, and Redis holds ` +
      `keys of the wrong type, which refuse the runs' scripts: ${sayWrongTypes(wrong, `resync ${named.join(', ')}`)}.`);
  }
}

/** How long drain waits before it looks whether a worker runs the machines with work ready. */
const NO_WORKER_SAY_MS = 5_000;

/**
 * A drain with no worker running its machines said so only at its timeout (a trial waited out 120 s with 30
 * subjects ready and no worker started), or never without one. Once drain has waited noWorkerSayMs and work is
 * still ready, it reads the machines' rolls of workers and says, once, which machines none runs. Again each
 * noWorkerSayMs until it has said so, as a worker may stop meanwhile.
 */
class NoWorkerLook {
  private readonly started = performance.now();
  private lookAt: number;
  private said = false;

  constructor(private readonly scope: DrainScope, private readonly timeoutMs: number | undefined) {
    this.lookAt = this.started + (scope.noWorkerSayMs ?? NO_WORKER_SAY_MS);
  }

  async check(sets: BusyStep[]): Promise<void> {
    const now = performance.now();
    if (this.said || !this.scope.warn || now < this.lookAt) return;
    this.lookAt = now + (this.scope.noWorkerSayMs ?? NO_WORKER_SAY_MS);
    const { redis, keys, machines } = this.scope;
    const names = machines.map((m) => m.name);
    const [look, { workerGone, workers }] = await Promise.all([
      readWaiting(redis, keys, names), readRunning(redis, keys, machines),
    ]);
    // Only a sure answer: a roll that could not be read tells nothing, and the timeout asks the question then.
    if (!workers) return;
    const hint = workerHint(this.scope, new Set(sets.map((b) => b.machine)), look.anyReady, workerGone, workers);
    if (!hint) return;
    this.said = true;
    const waited = ((now - this.started) / 1000).toFixed(0);
    const until = this.timeoutMs === undefined ? 'as long as it takes (no timeoutMs)'
      : `until its timeout (${this.timeoutMs} ms after the call)`;
    this.scope.warn(`drain() has waited ${waited} s for ${sets.map(sayBusy).join('; ')}.${hint} drain() waits for one ${until}.`);
  }
}

/** The timeout's question when nothing says whether a worker runs the machines. */
const WORKER_QUESTION = ' This runtime runs no worker: is a worker process running with the same prefix?';

/**
 * What a timeout says of workers, only when an item was ready to take or a run's worker is gone: the machines with
 * such work that no worker runs (none on their rolls), or the question when the rolls were not read and this runtime
 * runs none.
 */
function workerHint(
  scope: DrainScope, withWork: Set<string>, anyReady: boolean, gone: Map<string, number>, workers: number[] | undefined,
): string {
  if (!anyReady && gone.size === 0) return '';
  if (!workers) return scope.hasWorker ? '' : WORKER_QUESTION;
  const idle = scope.machines.map((m) => m.name)
    .filter((name, i) => workers[i] === 0 && ((anyReady && withWork.has(name)) || gone.has(name)));
  if (idle.length === 0) return '';
  return ` No worker runs ${listed(idle, 5)}: none is on ${idle.length === 1 ? 'its roll' : 'their rolls'} of workers in ` +
    'Redis, where a running worker renews an entry every second (one whose event loop is blocked for 5 s drops off ' +
    `too). Start one with the prefix "${scope.keys.prefix}" (\`npx sync-machine worker\`, or your app's own worker process).`;
}

/**
 * The items of runs whose workers are gone, said once after the runs: a trial's drain after `kill -9` listed them as
 * running for seconds, as if they were slow.
 */
function goneRuns(gone: Map<string, number>): string {
  let items = 0;
  for (const count of gone.values()) items += count;
  if (items === 0) return '';
  const [which, its, runs, it] = items === 1
    ? ['the one marked "its worker is gone" is in a run of a worker', 'its', 'that run', 'it']
    : [`the ${items} marked "its worker is gone" are in runs of workers`, 'their', 'those runs', 'them'];
  return ` (${which} no longer on the roll of live workers: killed, or ${its} event loop blocked for 5 s or more. ` +
    `Another worker runs ${it} again once its stall check finds ${runs} (within about two worker.stallIntervalMs) and ` +
    `${its} locks expire (up to worker.lockTtlMs))`;
}

const PREFIX = 'ensure-publication:';

/** Redis' time in µs, and the publication counters of all machines, summed. */
export type CounterReading = [micros: number, outcomes: Record<string, number>];

/**
 * The publication counters of every machine, summed, with Redis' time in µs (exact as a number until the year
 * 2255), in one MULTI: a run that ends about then is counted either in these counters and before this time, or in
 * neither (see readFailuresSince).
 */
export async function readCounters(scope: Pick<DrainScope, 'redis' | 'keys' | 'machines'>): Promise<CounterReading> {
  const multi = scope.redis.multi().time();
  for (const m of scope.machines) multi.hgetall(scope.keys.stats(m.name));
  const results = (await multi.exec()) ?? [];
  for (const [error] of results) if (error) throw error;
  const [seconds, micros] = results[0][1] as [string, string];
  const sums: Record<string, number> = {};
  for (const [, hash] of results.slice(1)) {
    for (const [field, count] of Object.entries(hash as Record<string, string>)) {
      if (!field.startsWith(PREFIX)) continue;
      const outcome = field.slice(PREFIX.length);
      // Run tickets, their batches, and subjects handed back to run again (counted where they run): not outcomes.
      if (outcome === 'jobs' || outcome === 'batches' || outcome === 'handed_back') continue;
      sums[outcome] = (sums[outcome] ?? 0) + Number(count);
    }
  }
  return [Number(seconds) * 1_000_000 + Number(micros), sums];
}

function diff(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [outcome, count] of Object.entries(after).sort()) {
    const n = count - (before[outcome] ?? 0);
    if (n > 0) out[outcome] = n;
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
