import { performance } from 'node:perf_hooks';
import type BeeQueue from 'bee-queue';
import { describeError, listed, WrongKeyTypeError } from '../errors';
import type { Logger } from '../logger';
import { countRuns } from '../metrics';
import type { MachineDefinition } from '../metadata/machine-definition';
import { parseTicket } from '../queue/bee-queue-storage';
import type { KeySpace, Step } from '../redis/keys';
import { writesRefused } from '../redis/availability';
import { PAYLOAD_TABLE } from '../store/payload-row';
import type { RetryPolicy } from '../runtime/options';
import { BatchEnds } from './batch-ends';
import { finishBatch } from './batch-finish';
import { BatchLocks, lockToken } from './batch-locks';
import type { Enqueuer } from './enqueuer';
import { sayBatchNotes, type ItemRunSettings } from './item-run';
import { itemName, type QueueSet } from './queues';
import { CORRUPT_JOB_EVENT } from '../queue/envelope-guard';
import { Turns } from './turns';
import type { RunsInFlight } from './runs-in-flight';
import type { WorkerRoll } from './worker-roll';
import { PublishGate, type QueuedPublishes } from './publish-gate';
import { BARE_REQUEST, encodeRequest } from './requests';
import { ticketRun, type ItemResult, type TakenBatch, type TicketRun, type WorkQueue } from './work-queue';
import type { Wakes } from './wakes';

/**
 * A ticket takes batch after batch for this long at most, then ends, so that tickets spread over the worker
 * processes there are now. Long enough that a long burst of commits costs a few tickets, not one per commit.
 */
const TICKET_BUDGET_MS = 30_000;
/**
 * How long a ticket that ran dry stays, to be woken by the next request instead of a new ticket being made; one
 * ticket per step and process (the keeper) stays until its budget ends. A ticket that stays takes again at least
 * this often, so a wake that was lost (Redis restarting) costs no more than this.
 */
export const LINGER_MS = 1_000;

/**
 * Per step's work set, the ticket of this process that stays until its budget ends when it runs dry. With every
 * ticket gone after a second of quiet, a burst whose commits came further apart (a slow database: 100,000 writes
 * over 150 s on PostgreSQL) made a ticket per gap, 17 where the same burst took 3 over 70 s; the keeper makes that
 * a ticket per budget. The others still end after LINGER_MS, so an idle process polls once a second per step at most.
 */
const keepers = new WeakMap<WorkQueue, string>();

/** A refusal said for a step's queue: what, when, and how often since. */
const refusals = new WeakMap<WorkQueue, { said: string; at: number; repeats: number }>();
const REFUSAL_REPEAT_MS = 60_000;

/**
 * Whether to say `said` now: undefined while the same was said in the last minute (counted), else how many times it
 * came since it was last said. A key of the wrong type stops every ticket of the step until it is fixed, and each
 * worker said it every 2 s (a trial: 69 lines in 70 s).
 */
function sayOnceAMinute(work: WorkQueue, said: string): number | undefined {
  const last = refusals.get(work);
  const now = performance.now();
  if (last && last.said === said && now - last.at < REFUSAL_REPEAT_MS) {
    last.repeats += 1;
    return undefined;
  }
  refusals.set(work, { said, at: now, repeats: 0 });
  return last && last.said === said ? last.repeats : 0;
}

/** How far the runtime's close() has come (WorkerDeps.stopping). */
export interface Stopping {
  now: boolean;
  closed: boolean;
}

/** Runs a batch's items; resolves once they run, with each item's result or the promise of it. */
export type BatchHandler = (
  settings: ItemRunSettings, batch: TakenBatch, locks: BatchLocks | undefined,
) => Promise<Array<ItemResult | Promise<ItemResult>>>;

export interface WorkerDeps {
  queues: QueueSet;
  enqueuer: Enqueuer;
  keys: KeySpace;
  logger: Logger;
  concurrency: number;
  retry: RetryPolicy;
  lockTtlMs: number;
  stallIntervalMs: number;
  /**
   * `now`: the runtime closes, a ticket finishes its batch and takes no other. `closed`: close() gave up waiting
   * for the runs still in flight and closed the connections; such a run ends without Redis (see runBatch).
   */
  stopping: Stopping;
  /** Batches in flight in this process, so drain() waits for a run that another worker already took over. */
  running: RunsInFlight;
  /** Wakes the tickets that linger in this process. */
  wakes: Wakes;
  /**
   * The ORM's reads hold the event loop (better-sqlite3): a step's runs here then take one batch at a time, since
   * takes sent together are answered together, and the first batch waited for all of them before its read began.
   */
  takesInTurn: boolean;
  /** The rolls of live workers this process is on: a publish is handed back only while another worker runs its machine. */
  roll: WorkerRoll;
  /** Where Redis is, as log lines name it (no password). */
  redisAt: string;
}

/** How long ready items wait untaken, after a wake no run of this process heard, before it makes a ticket for them. */
const NUDGE_AFTER_MS = 1_000;

/**
 * A wake that no run of this process waits for may be one that no live run hears: the runs counted for the work (which
 * stand in for its tickets) can be a killed worker's, until Bee-Queue's stall check finds them (up to two stall
 * intervals). A trial's kill -9 of the busy worker of two stopped every publish for 7-9 s while the other sat idle.
 * At most once a second, this process looks whether what was ready then is still untaken, and makes a ticket if so.
 */
function nudgeWhenUnheard(deps: WorkerDeps, work: WorkQueue): void {
  let looking = false;
  deps.wakes.whenUnheard(work.wakeChannel, () => {
    if (looking || deps.stopping.now) return;
    looking = true;
    setTimeout(() => {
      const look = deps.stopping.now ? Promise.resolve(false) : work.nudge(NUDGE_AFTER_MS);
      look.catch(() => false).finally(() => { looking = false; });
    }, NUDGE_AFTER_MS + 50).unref();
  });
}

/**
 * Starts processing both steps of every machine; a failing item is retried alone and never stops the worker.
 * Returns what close() calls once it stops taking work: the publishes that wait for a slot go back to pending
 * (PublishGate.stop), so that only the calls already made are waited for.
 */
export function startWorkers(deps: WorkerDeps, machines: MachineDefinition[], handlers: Record<Step, BatchHandler>): () => void {
  const gates: PublishGate[] = [];
  for (const machine of machines) {
    const gate = new PublishGate(deps.concurrency, deps.enqueuer.work(machine.name, 'ensure-publication'),
      () => deps.roll.othersRun(machine.name), machine.rateLimit);
    gates.push(gate);
    // Enough runs at once to keep `concurrency` subjects going, and more to load while others build and publish
    // (an unchanged resync on PostgreSQL: 10-20% faster with three more than with one).
    const runs = Math.ceil(deps.concurrency / machine.batching.batchSize) + 3;
    for (const step of Object.keys(handlers) as Step[]) {
      const takes = new Turns(deps.takesInTurn);
      nudgeWhenUnheard(deps, deps.enqueuer.work(machine.name, step));
      const queue = deps.queues.get(machine.name, step);
      const queueName = `${deps.keys.prefix}:${deps.keys.queueName(machine.name, step)}`;
      const settings: ItemRunSettings = {
        machine, step, queue: queueName, spanName: `process ${queueName}`, logger: deps.logger, retry: deps.retry, gate,
        describe: (item) => itemName(step, machine.subjectInfo.name, item),
        forceRerun: (item) => deps.enqueuer.request(machine.name, step, [[item, encodeRequest({ force: true })]]),
        rerun: (item) => deps.enqueuer.request(machine.name, step, [[item, BARE_REQUEST]]),
        closed: () => deps.stopping.closed,
        explain: async (error) => {
          // This failure stays recorded until retried: a trial's 532 stayed after the resync the fix names.
          const fix = await deps.enqueuer.work(machine.name, step)
            .wrongTypeFix(error, `resync ${machine.className}, and retry-failed ${machine.className} for what failed meanwhile ` +
              `(a subject whose lock a refused run held runs once it expires: worker.lockTtlMs, ${deps.lockTtlMs / 1000} s)`);
          // Redis' own text ends "on @user_script:277.": its script and line tell a user nothing, the keys do.
          return fix === undefined ? undefined
            : new WrongKeyTypeError(`${describeError(error).replace(/ script: .*$/s, '')}: ${fix}`, { cause: error });
        },
      };
      queue.process(runs, (job: BeeQueue.Job<unknown>) => runTicket(deps, settings, deps.enqueuer.work(machine.name, step), takes, job, handlers[step]));
      // A corrupt ticket was failed unrun: the items it stood for get a ticket of their own now, not at the next change.
      (queue as unknown as NodeJS.EventEmitter).on(CORRUPT_JOB_EVENT, () => {
        deps.enqueuer.work(machine.name, step).reschedule().catch(() => undefined);
      });
      // Bee-Queue re-runs the tickets of a dead worker only when some worker looks for them.
      queue.checkStalledJobs(deps.stallIntervalMs);
      reapEvery(deps, settings, deps.enqueuer.work(machine.name, step));
    }
  }
  return () => gates.forEach((gate) => gate.stop());
}

/**
 * Every stall interval, puts back the batches of runs that are gone and that no stall check will run again: a run
 * of a ticket that another run of it ended, which then died (reap-14.lua). Stops when the runtime closes.
 */
function reapEvery(deps: WorkerDeps, settings: ItemRunSettings, work: WorkQueue): void {
  const { step, machine } = settings;
  const timer = setInterval(() => {
    if (deps.stopping.now) return clearInterval(timer);
    work.reap().then((back) => {
      if (back === 0) return;
      deps.logger.warn(`${step} of ${machine.className}: ${back} item${back === 1 ? '' : 's'} of a run that is gone (its ` +
        'worker died after another worker had taken its ticket over) went back to pending, to run again.');
    }, async (error: unknown) => {
      // A lost connection is not logged here: the runtime says once that Redis is down.
      if ((error as Error | undefined)?.name === 'ReplyError') {
        deps.logger.error(`${step} of ${machine.className}: ${await refused(work, machine.className, error)}`);
      }
    });
  }, deps.stallIntervalMs);
  timer.unref();
}

/** One ticket: take a batch, run it, finish it; again while work comes (lingering between) and the budget lasts. */
async function runTicket(
  deps: WorkerDeps, settings: ItemRunSettings, work: WorkQueue, takes: Turns, job: BeeQueue.Job<unknown>, handler: BatchHandler,
): Promise<string> {
  const ticket = String(job.id);
  try {
    parseTicket(job.data, settings.queue, ticket, settings.machine.name, settings.step);
  } catch (error) {
    job.options.retries = 0; // the same data fails the same way
    deps.logger.error(`${describeError(error)} It was not run and stays in the failed set.`);
    // As for a corrupt envelope: what it stood for gets a ticket of its own (it is still in `starting`).
    work.reschedule().catch(() => undefined);
    throw error;
  }
  const run = ticketRun(ticket, lockToken(ticket, deps.roll.id));
  const deadline = performance.now() + TICKET_BUDGET_MS;
  let first = true;
  let items = 0;
  let lingerUntil = 0;
  try {
    for (;;) {
      const since = performance.now();
      // After a batch, a ticket that finds nothing stays a while (counted as running) and waits to be woken.
      const lingers = !deps.stopping.now && since < deadline && since < lingerUntil;
      // Publishes here behind by more than a second: only what fits, so the rest stays for other workers.
      const room = work.locks ? await settings.gate.room(settings.machine.batching.batchSize, () => deps.stopping.now) : undefined;
      const limit = room?.size;
      // And other workers are asked to take the rest, as this worker's runs stand in for the tickets it would need.
      const invite = limit !== undefined && limit < settings.machine.batching.batchSize && await settings.gate.othersRun();
      const woken = deps.wakes.seen(work.wakeChannel);
      const batch = await takes.run(() => work.take(run, first, deps.lockTtlMs, lingers, limit, invite)).then((taken) => {
        room?.took(taken.items.map((i) => i.item));
        return taken;
      }, (error: unknown) => {
        room?.took([]);
        throw error;
      });
      first = false;
      if (batch.unreadable) {
        reportUnreadable(deps.logger, settings, batch.unreadable);
        await work.noteUnreadable(batch.unreadable.count);
      }
      if (batch.orphaned) reportOrphaned(deps, settings, ticket, batch.orphaned);
      else if (batch.recovered > 0) reportRecovered(deps, settings, ticket, batch.recovered);
      if (batch.items.length === 0) {
        if (batch.ended) break; // without lingering, or paused: the take ended the ticket
        const waitMs = Math.min(lingerUntil, deadline, performance.now() + LINGER_MS) - performance.now();
        await deps.wakes.wait(work.wakeChannel, woken, Math.min(waitMs, batch.nextInMs ?? waitMs));
        continue;
      }
      items += batch.items.length;
      const ran = runBatch(deps, settings, work, run, batch, since, handler, deadline);
      const goOn = await deps.running.track(ran,
        `${settings.machine.className} ${settings.step}, a batch of ${batch.items.length}`);
      if (!goOn) break;
      lingerUntil = keeps(work, ticket) ? deadline : performance.now() + LINGER_MS;
    }
  } catch (error) {
    // Redis refused a script (a key of another type, say): the ticket fails, and would say nothing. A lost
    // connection is not logged here; the runtime says once that Redis is down.
    if ((error as Error | undefined)?.name === 'ReplyError') {
      const why = await refused(work, settings.machine.className, error);
      const repeats = sayOnceAMinute(work, why);
      if (repeats !== undefined) {
        const since = repeats > 0 ? ` (the same ${repeats} more time${repeats === 1 ? '' : 's'} since it was last said)` : '';
        deps.logger.error(`${settings.step} of ${settings.machine.className}: run ticket ${ticket} stopped, as Redis refused ` +
          `its script: ${why}${since}`);
      }
    }
    throw error;
  } finally {
    if (keepers.get(work) === ticket) keepers.delete(work);
  }
  return `${items} items`;
}

/**
 * Why Redis refused a script of `work`, and the fix: a key of the wrong type is named (looked up only now, on this
 * error path); any other refusal keeps the general advice.
 */
async function refused(work: WorkQueue, className: string, error: unknown): Promise<string> {
  const fix = await work.wrongTypeFix(error, `resync ${className}`);
  if (fix !== undefined) return `${describeError(error)}. ${fix}. The work stays in Redis for the next ticket.`;
  const refusal = writesRefused(error);
  if (refusal) return `${describeError(error)}: ${refusal}. The work stays in Redis for the next ticket.`;
  return `${describeError(error)}. The work stays in Redis for the next ticket; if this repeats, a key under ` +
    'the prefix was changed by hand: delete it, then resync the machine.';
}

/**
 * How the two lines below begin: which ticket runs again, and why. Any worker's stall check takes a ticket for stalled
 * when its worker has not renewed it (every stallIntervalMs / 2 of its own) since the last check: with 2 s on one
 * worker and 5 s on another, the other's live tickets ran again, and the line said only that their worker died (a trial).
 */
function rerun(settings: ItemRunSettings, ticket: string): string {
  return `${settings.step} of ${settings.machine.className}: run ticket ${ticket} is run again, as its run before did not ` +
    'finish (its worker died or was stopped mid-batch, close() gave up on it, or it failed, as runs do while Redis is ' +
    'down; or a worker with a shorter ' +
    'worker.stallIntervalMs checked before that run\'s worker renewed it: give every worker of a prefix the same one)';
}

/**
 * A ticket run again after its worker died or stopped mid-batch: its subjects wait for that run's locks, which
 * look like a stall from outside (a trial: a drain after kill -9 took 39 s, not 11, and no log said why). A run that
 * still goes on lets them go when it ends, often much sooner (a trial read "in 28.4 s" of subjects that ran in 4 s).
 */
function reportOrphaned(deps: WorkerDeps, settings: ItemRunSettings, ticket: string, orphaned: { count: number; inMs: number }): void {
  const subjects = `${orphaned.count} ${orphaned.count === 1 ? 'subject waits' : 'subjects wait'}`;
  deps.logger.warn(`${rerun(settings, ticket)}; ${subjects} for that run's locks to expire (in ` +
    `${(orphaned.inMs / 1000).toFixed(1)} s) and then run${orphaned.count === 1 ? 's' : ''} again. A worker killed mid-run ` +
    `delays its subjects by up to worker.lockTtlMs (${deps.lockTtlMs} ms); a run that still goes on (its worker was stopped, ` +
    'or Redis was down and is back) may still publish, and lets them go as soon as it ends: often sooner than that.');
}

/**
 * A ticket run again after its worker died, once that run's locks had expired: nothing waits any more, but its
 * items waited until a stall check found the ticket, which no log said (a trial: drains after kill -9 took as long
 * as the lock TTL, with no line in the log), and then for a free run (a trial's 3 workers in a backfill ran it 35 s
 * after the kill, where the line said about 10 s).
 */
function reportRecovered(deps: WorkerDeps, settings: ItemRunSettings, ticket: string, count: number): void {
  const what = settings.step === 'ensure-publication' ? ['subject', 'subjects'] : ['changed row', 'changed rows'];
  deps.logger.warn(`${rerun(settings, ticket)}; ${count} ` +
    `${count === 1 ? `${what[0]} of it runs` : `${what[1]} of it run`} now. A worker that died is found by another worker's ` +
    `stall check, within about two worker.stallIntervalMs (${deps.stallIntervalMs} ms each), and its ticket then waits ` +
    `for a free run of a worker, whose runs take batches for up to ${TICKET_BUDGET_MS / 1000} s each; its items wait until then.`);
}

/** Inbox entries that no script could read were set aside (the rest of the inbox was sorted in): said once, here. */
function reportUnreadable(logger: Logger, settings: { step: string; machine: { className: string } }, found: { count: number; entries: string[] }): void {
  const { className } = settings.machine;
  const more = found.count > found.entries.length ? ` (the first ${found.entries.length})` : '';
  logger.error(`${settings.step} of ${className}: ${found.count} inbox ${found.count === 1 ? 'entry' : 'entries'} could not be ` +
    `read (written by hand or by another version of sync-machine)${more}: ${found.entries.map((e) => JSON.stringify(e)).join(', ')}. ` +
    `The rest of the inbox was kept, and so were the readable items of these. The changes in them may be missing: ` +
    `resync(${className}) (unchanged subjects cost no API call); status and drain say so until a full resync. Enqueue ` +
    "work with notifyChanged() or resync(), not by writing to sync-machine's keys.");
}

/** Whether `ticket` is (or now becomes) the one of its step in this process that stays until its budget ends. */
function keeps(work: WorkQueue, ticket: string): boolean {
  const keeper = keepers.get(work);
  if (keeper !== undefined && keeper !== ticket) return false;
  keepers.set(work, ticket);
  return true;
}

/** How long a slow batch's warning waits for Redis' PING before it says Redis, not the hooks, holds the batch. */
const REDIS_SILENT_MS = 2_000;
/** A PING slower than this finds a Redis that was just stalled: the runs are only now getting their answers. */
const REDIS_JUST_BACK_MS = 500;

/** What a batch's earlier looks at its slow items found (tellSlow). */
interface SlowLooks {
  /** Redis did not answer, or only slowly, at the last look. */
  redisSilent: boolean;
  /** A look has said what holds the batch (what is said once per batch is said then). */
  said: boolean;
}

/**
 * Items of a batch still running after a long time, by what holds them: Redis not answering, the batch's reads,
 * their turn for a publish slot (not a hang: a batch of 500 behind 20 slots at 300 ms a call takes 7.5 s), or a hook
 * that has not returned.
 */
async function tellSlow(
  deps: WorkerDeps, work: WorkQueue, settings: ItemRunSettings, items: string[], ms: number, reading: () => boolean,
  looks: SlowLooks,
): Promise<string[]> {
  const { logger } = deps;
  const first = !looks.said;
  // After the first look, only subjects newly hung are told: the rest was said, once.
  const pinged = performance.now();
  if (!(await work.answers(REDIS_SILENT_MS))) {
    if (first) logger.warn(redisSilent(settings, items, ms, deps.redisAt, work.connected()));
    looks.redisSilent = true;
    looks.said = true;
    return [];
  }
  // Redis answers again (or only now, slowly): the runs that waited on it are getting their answers, and go on. Told
  // now, they were blamed on @Build or @Publish, though none was in a call (two trials, right after a SIGCONT). Those
  // still here at the next look are told then.
  const justBack = looks.redisSilent || performance.now() - pinged > REDIS_JUST_BACK_MS;
  looks.redisSilent = performance.now() - pinged > REDIS_JUST_BACK_MS;
  if (justBack) return [];
  looks.said = true;
  if (reading()) {
    if (first) logger.warn(slowReads(settings, items, ms));
    return [];
  }
  if (settings.step !== 'ensure-publication') {
    logger.warn(slowItems(settings, items, ms));
    return items;
  }
  // A call is hung once it has had its slot for lockTtlMs (the time after which a batch is looked at): one that got
  // it later waited for it, and is under way (a trial's warning named calls that had started 1-1.4 s before it,
  // after 5 s in the queue). Half the batch's time, as before, named a call late or never in a long batch (a trial:
  // 15 s after its call began, with lockTtlMs 3 s).
  const queued = settings.gate.queuedOf(items, deps.lockTtlMs);
  if (first && queued.items.length > 0) logger.warn(waitingForSlots(settings, queued, ms, deps.lockTtlMs));
  const moving = new Set([...queued.items, ...queued.started]);
  const rest = moving.size === 0 ? items : items.filter((item) => !moving.has(item));
  // A call given ctx.timeout ends by itself: told as such, not advised the timeout it has (a trial, a second before
  // its 4 s timeout fired).
  const timed = rest.filter((item) => queued.timed.has(item));
  const untimed = timed.length === 0 ? rest : rest.filter((item) => !queued.timed.has(item));
  if (timed.length > 0) logger.warn(timedItems(settings, timed, ms, Math.max(...timed.map((item) => queued.timed.get(item)!))));
  if (untimed.length > 0) logger.warn(slowItems(settings, untimed, ms));
  return rest;
}

function waitingForSlots(settings: ItemRunSettings, queued: QueuedPublishes, ms: number, lockTtlMs: number): string {
  const named = listed(queued.items.map((item) => settings.describe(item)), 10);
  const pace = queued.publishMs > 0 ? ` (a call took about ${Math.round(queued.publishMs)} ms lately)` : '';
  // Slots held by calls that do not return free no slot: more of them fill the same way (a trial: 10 of 20 hung).
  const faster = queued.heldLong > 0
    ? `${queued.heldLong} of the ${queued.concurrency} slots ${queued.heldLong === 1 ? 'is' : 'are'} held by a call that has ` +
      `not returned in ${lockTtlMs / 1000} s (its lock is kept meanwhile): give @Publish a timeout that keeps ctx.signal ` +
      '(fetch(url, { signal: ctx.timeout(10_000) })) so that such calls fail and are retried, before raising worker.concurrency.'
    : 'To go through faster, raise worker.concurrency (if the partner API allows) or run more workers.';
  return `${settings.step} of ${settings.machine.className}: ${named} still waiting after ${Math.round(ms / 1000)} s for ` +
    `a publish slot: ${queued.queued} ${queued.queued === 1 ? 'publish waits' : 'publishes wait'} behind this process' ` +
    `worker.concurrency of ${queued.concurrency}${pace}. Their calls have not started: each goes when a slot frees, ` +
    `with its lock kept. ${faster}`;
}

/** Calls that have not returned, each ended by its ctx.timeout within `leftMs`: no advice, they end by themselves. */
function timedItems(settings: ItemRunSettings, items: string[], ms: number, leftMs: number): string {
  const named = listed(items.map((item) => settings.describe(item)), 10);
  return `${settings.step} of ${settings.machine.className}: ${named} still running after ${Math.round(ms / 1000)} s: ` +
    `its call has not returned; its ctx.timeout ends it within ${Math.max(1, Math.ceil(leftMs / 1000))} s, then it ` +
    'fails and is retried. Each such subject stays locked, and its later changes wait, until then.';
}

/** Items of a batch whose hooks have not returned after a long time: what holds them, and what to do. */
function slowItems(settings: ItemRunSettings, items: string[], ms: number): string {
  const named = listed(items.map((item) => settings.describe(item)), 10);
  const publishes = settings.step === 'ensure-publication';
  const hooks = publishes ? '@Build or @Publish' : '@SubjectIdsFrom';
  return `${settings.step} of ${settings.machine.className}: ${named} still running after ${Math.round(ms / 1000)} s: ` +
    `${hooks} has not returned (a partner API or a query that does not answer, or this process was stopped?). ` +
    (publishes ? 'Each such subject stays locked, and its later changes wait, until it does. ' : 'Its subjects wait until it does. ') +
    // ctx.timeout keeps ctx.signal's abort on a lost lock (Node 20's AbortSignal.any loses a timeout: call-timeout.ts).
    (publishes
      ? 'Give the call a timeout that keeps ctx.signal (fetch(url, { signal: ctx.timeout(10_000) })), so that it fails ' +
        'and is retried.'
      : 'Give the call a timeout (fetch(url, { signal: AbortSignal.timeout(10_000) }), or the query\'s), so that it ' +
        'fails and is retried.');
}

/**
 * Redis has not answered a PING: every run waits at its next command, whatever its hooks do. A trial's SIGSTOP of
 * Redis was told as "@Build or @Publish has not returned" of a partner that answered in 30 ms.
 */
function redisSilent(settings: ItemRunSettings, items: string[], ms: number, redisAt: string, connected: boolean): string {
  const named = listed(items.map((item) => settings.describe(item)), 10);
  // A killed Redis refuses the connection; a stopped one keeps it open and says nothing (a trial's kill was told as a stop).
  const why = connected
    ? `has not answered for ${REDIS_SILENT_MS / 1000} s (a stopped process, or a network that drops packets?)`
    : 'is not connected (down, restarting, or refusing connections?); ioredis reconnects on its own';
  return `${settings.step} of ${settings.machine.className}: ${named} still running after ${Math.round(ms / 1000)} s: ` +
    `Redis at ${redisAt} ${why}. The runs wait for it at their next command, and go on when it answers; a subject whose ` +
    'lock expired meanwhile runs again (a call given ctx.signal is not sent stale).';
}

/**
 * The batch's own reads have not returned: no hook has been called yet. A trial's LOCK TABLE on the payload table
 * (as a migration's ALTER TABLE takes) held every run for 40 s, and the warning blamed @Build or @Publish and
 * advised a timeout on the partner call, which could not help.
 */
function slowReads(settings: ItemRunSettings, items: string[], ms: number): string {
  const named = listed(items.map((item) => settings.describe(item)), 10);
  const stored = settings.step === 'ensure-publication' ? ` and their stored payloads (${PAYLOAD_TABLE})` : '';
  return `${settings.step} of ${settings.machine.className}: ${named} still running after ${Math.round(ms / 1000)} s, ` +
    `waiting for the batch's reads of their rows${stored}: the database has not answered (a lock on the table, such as ` +
    "a migration's ALTER TABLE or LOCK TABLE; a connection pool used up by reads that wait on one; or a connection that " +
    'hangs?). No hook has been called yet; they run when it answers.';
}

/**
 * One batch of a ticket: its items run, those that ended are let go while others still run (batch-ends.ts),
 * then FINISH; resolves whether the ticket goes on.
 */
async function runBatch(
  deps: WorkerDeps, settings: ItemRunSettings, work: WorkQueue, run: TicketRun, batch: TakenBatch,
  since: number, handler: BatchHandler, deadline: number,
): Promise<boolean> {
  const closed = () => settings.closed();
  const ids = batch.items.map((i) => i.item);
  const locks = work.locks ? new BatchLocks(work, run.id, deps.lockTtlMs, ids, since, closed) : undefined;
  // Until the handler has its rows and stored payloads, no hook of the batch has been called.
  let reading = true;
  const looks: SlowLooks = { redisSilent: false, said: false };
  const ends = new BatchEnds(async (ended) => {
    await work.release(run, batch.claim, ended, deps.retry);
    locks?.release(ended.map(([item]) => item));
    countRuns(settings.machine.name, settings.step, ended);
  }, closed, { afterMs: deps.lockTtlMs, tell: (items, ms) => tellSlow(deps, work, settings, items, ms, () => reading, looks) });
  ends.reading(ids);
  let results: ItemResult[];
  try {
    const started = await handler(settings, batch, locks);
    reading = false;
    results = await ends.rest(batch.items, started);
  } catch (error) {
    // The batch's own reads failed (the database is down, say): each item is retried alone, with backoff.
    await ends.stop();
    deps.logger.error(`${settings.step} of ${settings.machine.className}: a batch of ${batch.items.length} failed before ` +
      `its items ran (each is retried with backoff): ${describeError(error)}`);
    results = batch.items.map(({ item }) => [item, 'failed', describeError(error)]);
  } finally {
    // Counted by room() as on their way to a slot since the take, until each queued or needed none.
    if (work.locks) settings.gate.settleAll(ids);
    locks?.stop();
    sayBatchNotes(settings);
  }
  // Abandoned by close() (its connections are gone): its locks and claims run out, and another worker runs what
  // it had not finished; close() said so.
  if (closed()) return false;
  countRuns(settings.machine.name, settings.step, results);
  const goOn = deps.stopping.now || performance.now() >= deadline ? 'end' : 'linger';
  // Not sent again once the runtime closes: a shutdown does not wait on Redis, and the locks expire as before.
  return finishBatch(work, run, batch.claim, results, deps.retry, goOn, deps.lockTtlMs, () => closed() || deps.stopping.now);
}
