import type Redis from 'ioredis';
import type BeeQueue from 'bee-queue';
import { describeError, InvalidJobError } from '../errors';
import type { Logger } from '../logger';
import type { MachineDefinition } from '../metadata/machine-definition';
import type { KeySpace, Step } from '../redis/keys';
import { SpanKind } from '@opentelemetry/api';
import { countRun } from '../metrics';
import { ATTR, contextFrom, traced } from '../tracing';
import type { RetryPolicy } from '../runtime/options';
import type { QueueSet } from './queues';


export type StepHandler = (machine: MachineDefinition, jobId: string, data: unknown, queue: string) => Promise<string>;

export interface WorkerDeps {
  queues: QueueSet;
  keys: KeySpace;
  redis: Redis;
  logger: Logger;
  concurrency: number;
  retry: RetryPolicy;
  stallIntervalMs: number;
}

/** Starts processing both steps of every machine; a failing job is logged and never stops the worker. */
export function startWorkers(deps: WorkerDeps, machines: MachineDefinition[], handlers: Record<Step, StepHandler>): void {
  for (const machine of machines) {
    for (const step of Object.keys(handlers) as Step[]) {
      const queue = deps.queues.get(machine.name, step);
      const queueName = `${deps.keys.prefix}:${deps.keys.queueName(machine.name, step)}`;
      queue.process(deps.concurrency, (job: BeeQueue.Job<unknown>) =>
        runJob(deps, machine, step, queueName, job, handlers[step]));
      // Bee-Queue re-runs the jobs of a dead worker only when some worker looks for them.
      queue.checkStalledJobs(deps.stallIntervalMs);
    }
  }
}

async function runJob(
  deps: WorkerDeps, machine: MachineDefinition, step: Step, queueName: string, job: BeeQueue.Job<unknown>,
  handler: StepHandler,
): Promise<string> {
  const attempt = applyRetryPolicy(job, deps.retry);
  return traced(`process ${queueName}`, {
    [ATTR.machine]: machine.name, [ATTR.attempt]: attempt,
    [ATTR.messagingSystem]: 'bee-queue', [ATTR.messagingOperation]: 'process',
    [ATTR.messagingDestination]: queueName, [ATTR.messagingMessageId]: String(job.id),
  }, async (span) => {
    try {
      const outcome = await handler(machine, String(job.id), job.data, queueName);
      span.setAttribute(ATTR.outcome, outcome);
      countRun(machine.name, step, outcome);
      await deps.redis.hincrby(deps.keys.stats(machine.name), `${step}:${outcome}`, 1);
      return outcome;
    } catch (error) {
      span.setAttribute(ATTR.outcome, 'failed');
      countRun(machine.name, step, 'failed');
      if (error instanceof InvalidJobError) job.options.retries = 0; // the same data fails the same way
      const retrying = (job.options.retries ?? 0) > 0;
      deps.logger.error(`${step} job ${job.id} of ${machine.className} failed (attempt ${attempt}` +
        `${retrying ? ', will retry' : ', no retries left: kept in the failed set'}): ${describeError(error)}`);
      await deps.redis.hincrby(deps.keys.stats(machine.name), `${step}:failed`, 1).catch(() => undefined);
      throw error;
    }
  }, { kind: SpanKind.CONSUMER, parent: contextFrom((job.data as { trace?: unknown } | null)?.trace) });
}

/**
 * The worker's retry policy wins over whatever the enqueuing process set: a job's first run sets its
 * retries and backoff (Bee-Queue reads them from the job when it fails). Returns the attempt number.
 */
function applyRetryPolicy(job: BeeQueue.Job<unknown>, retry: RetryPolicy): number {
  const options = job.options as { retries?: number; stacktraces?: string[] };
  const attempt = (options.stacktraces?.length ?? 0) + 1;
  if (attempt === 1) job.retries(Math.max(0, retry.attempts - 1)).backoff('exponential', retry.initialDelayMs);
  return attempt;
}
