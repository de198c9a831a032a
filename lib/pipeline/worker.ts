import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type BeeQueue from 'bee-queue';
import { describeError } from '../errors';
import type { Logger } from '../logger';
import type { MachineDefinition } from '../metadata/machine-definition';
import { parseTicket } from '../queue/bee-queue-storage';
import type { KeySpace, Step } from '../redis/keys';
import type { RetryPolicy } from '../runtime/options';
import { BatchLocks } from './batch-locks';
import type { Enqueuer } from './enqueuer';
import type { ItemRunSettings } from './item-run';
import type { QueueSet } from './queues';
import { PublishGate } from './publish-gate';
import { encodeRequest } from './requests';
import type { ItemResult, TakenBatch, WorkQueue } from './work-queue';

/** A ticket takes batch after batch while work is ready, for this long at most, then makes way. */
const TICKET_BUDGET_MS = 5_000;

export type BatchHandler = (settings: ItemRunSettings, batch: TakenBatch, locks: BatchLocks | undefined) => Promise<ItemResult[]>;

export interface WorkerDeps {
  queues: QueueSet;
  enqueuer: Enqueuer;
  keys: KeySpace;
  logger: Logger;
  concurrency: number;
  retry: RetryPolicy;
  lockTtlMs: number;
  stallIntervalMs: number;
  /** Set when the runtime closes: a ticket finishes its batch and takes no other. */
  stopping: { now: boolean };
  /** Tickets running in this process, so drain() waits for a run that another worker already took over. */
  running: Set<Promise<unknown>>;
}

/** Starts processing both steps of every machine; a failing item is retried alone and never stops the worker. */
export function startWorkers(deps: WorkerDeps, machines: MachineDefinition[], handlers: Record<Step, BatchHandler>): void {
  for (const machine of machines) {
    const gate = new PublishGate(deps.concurrency, deps.enqueuer.work(machine.name, 'ensure-publication'), machine.rateLimit);
    // Enough runs at once to keep `concurrency` subjects going, and one more to load while another publishes.
    const runs = Math.ceil(deps.concurrency / machine.batching.batchSize) + 1;
    for (const step of Object.keys(handlers) as Step[]) {
      const queue = deps.queues.get(machine.name, step);
      const queueName = `${deps.keys.prefix}:${deps.keys.queueName(machine.name, step)}`;
      const settings: ItemRunSettings = {
        machine, step, queue: queueName, logger: deps.logger, retry: deps.retry, gate,
        describe: step === 'ensure-publication' ? (id) => `${machine.subjectInfo.name} ${id}` : (item) => item.replace(':', ' '),
        forceRerun: (item) => deps.enqueuer.request(machine.name, step, [[item, encodeRequest({ force: true })]]),
      };
      queue.process(runs, (job: BeeQueue.Job<unknown>) => {
        const run = runTicket(deps, settings, deps.enqueuer.work(machine.name, step), job, handlers[step]);
        deps.running.add(run);
        return run.finally(() => deps.running.delete(run));
      });
      // Bee-Queue re-runs the tickets of a dead worker only when some worker looks for them.
      queue.checkStalledJobs(deps.stallIntervalMs);
    }
  }
}

/** One ticket: take a batch, run it, finish it; again while work is ready and the budget lasts. */
async function runTicket(
  deps: WorkerDeps, settings: ItemRunSettings, work: WorkQueue, job: BeeQueue.Job<unknown>, handler: BatchHandler,
): Promise<string> {
  const ticket = String(job.id);
  try {
    parseTicket(job.data, settings.queue, ticket, settings.machine.name, settings.step);
  } catch (error) {
    job.options.retries = 0; // the same data fails the same way
    deps.logger.error(`${describeError(error)} It was not run and stays in the failed set.`);
    throw error;
  }
  const locking = settings.step === 'ensure-publication';
  // The ticket id leads the token, so a re-run of this ticket (its worker died) may take over its own locks.
  const token = locking ? `${ticket}:${randomBytes(6).toString('hex')}` : '';
  const deadline = performance.now() + TICKET_BUDGET_MS;
  let first = true;
  let items = 0;
  for (;;) {
    const since = performance.now();
    const batch = await work.take(ticket, first, locking ? { token, ttlMs: deps.lockTtlMs } : undefined);
    first = false;
    if (batch.items.length === 0) break;
    items += batch.items.length;
    const locks = locking ? new BatchLocks(work, token, deps.lockTtlMs, batch.items.map((i) => i.item), since) : undefined;
    let results: ItemResult[];
    try {
      results = await handler(settings, batch, locks);
    } catch (error) {
      // The batch's own reads failed (the database is down, say): each item is retried alone, with backoff.
      deps.logger.error(`${settings.step} of ${settings.machine.className}: a batch of ${batch.items.length} failed before ` +
        `its items ran (each is retried with backoff): ${describeError(error)}`);
      results = batch.items.map(({ item }) => [item, 'failed', describeError(error)]);
    } finally {
      locks?.stop();
    }
    if (!(await work.finish(ticket, token, results, deps.retry, !deps.stopping.now && performance.now() < deadline))) break;
  }
  return `${items} items`;
}

