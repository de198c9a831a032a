import BeeQueue from 'bee-queue';
import { ConfigurationError, describeError } from '../errors';
import type { Logger } from '../logger';
import type { RedisSettings } from '../redis/connection';
import { KeySpace, Step } from '../redis/keys';
import { CORRUPT_JOB_EVENT, ENDED_JOB_EVENT, installEnvelopeGuard } from '../queue/envelope-guard';
import { beeQueueScriptsFound, installScriptRecovery } from '../queue/script-recovery';
import { writesRefused } from '../redis/availability';

installScriptRecovery(); // Bee-Queue recovers from Redis restarts (NOSCRIPT): once per process
installEnvelopeGuard(); // a corrupt job is failed once, not re-run every stall interval

/** Upstream first: drain reads queues in this order so work moving downstream is never missed. */
export const STEPS: readonly Step[] = ['find-subjects', 'ensure-publication'];

/** How messages name an item of a step: a subject ("Order 42"), or a changed row ("Customer 7" for `Customer:7`). */
export function itemName(step: Step, subject: string, item: string): string {
  return step === 'ensure-publication' ? `${subject} ${item}` : item.replace(':', ' ');
}

/** How often a worker raises its queues' due delayed tickets itself (sweepDelayed). */
const DELAYED_SWEEP_MS = 2_000;

/** How often a Redis that refuses writes is said, per process, while it lasts. */
const REFUSAL_SAID_EVERY_MS = 60_000;

/** The Bee-Queue queues of every machine, two per machine. */
export class QueueSet {
  private readonly queues = new Map<string, BeeQueue>();
  /** close() gave up on jobs still running: Bee-Queue's word when one of them ends is expected, and not an error. */
  private abandoned = false;
  /** When a Redis that refuses writes was last said (performance.now()), for all queues of this process. */
  private refusalSaidAt = -Infinity;
  /** Runs queues' delayed tickets (sweepDelayed); workers only. */
  private sweep?: NodeJS.Timeout;
  private readonly isWorker: boolean;

  constructor(
    redis: RedisSettings, keys: KeySpace, machines: string[], worker: { stallIntervalMs: number } | undefined, logger: Logger,
  ) {
    const isWorker = this.isWorker = worker !== undefined;
    for (const machine of machines) {
      for (const step of STEPS) {
        const queue = new BeeQueue(keys.queueName(machine, step), {
          prefix: keys.prefix,
          redis: redis.beeQueue as BeeQueue.QueueSettings['redis'],
          isWorker,
          // Our own coalescing replaces job events; delayed jobs (retries, lock re-delays) need a worker to raise them.
          getEvents: false,
          sendEvents: false,
          activateDelayedJobs: isWorker,
          stallInterval: worker?.stallIntervalMs,
          delayedDebounce: 25,
          removeOnSuccess: true,
          removeOnFailure: false,
          storeJobs: false,
        });
        // Without a listener, a lost connection would be an uncaught exception in a capture-only process.
        queue.on('error', (error) => {
          // A ticket that close() abandoned ended after all: close() said so already (SyncMachines.close).
          if (this.abandoned && /^unable to update the status of \w+ job /.test(error?.message)) return;
          const refusal = writesRefused(error);
          if (refusal) {
            // Every stall check and delayed-job move is refused alike: once a minute, with the fix, not each time.
            if (performance.now() - this.refusalSaidAt < REFUSAL_SAID_EVERY_MS) return;
            this.refusalSaidAt = performance.now();
            logger.error(`${keys.prefix}:${queue.name}: Redis error: ${describeError(error)}: ${refusal} (said at most once a ` +
              'minute while it lasts; the work stays in Redis).');
            return;
          }
          logger.error(`${keys.prefix}:${queue.name}: Redis error: ${describeError(error)}`);
        });
        (queue as unknown as NodeJS.EventEmitter).on(CORRUPT_JOB_EVENT, (error: Error) => logger.error(error.message));
        (queue as unknown as NodeJS.EventEmitter).on(ENDED_JOB_EVENT, (message: string) => logger.info(message));
        this.queues.set(`${machine}\n${step}`, queue);
      }
    }
  }

  get(machine: string, step: Step): BeeQueue {
    const queue = this.queues.get(`${machine}\n${step}`);
    if (!queue) throw new Error(`no ${step} queue for machine ${machine}`);
    return queue;
  }

  async ready(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.ready()));
    if (this.queues.size > 0 && !beeQueueScriptsFound()) {
      throw new ConfigurationError('Bee-Queue found none of its Lua scripts: it reads them at run time from its own folder ' +
        '(node_modules/bee-queue/lib/lua), which in a bundle is the bundle\'s. Copy node_modules/bee-queue/lib/lua/*.lua ' +
        'next to the bundled file, or keep bee-queue out of the bundle (esbuild --external:bee-queue) and install it; ' +
        'see "Bundling" in the README.');
    }
    if (this.isWorker) this.sweepDelayed();
  }

  /**
   * Raises due delayed tickets every DELAYED_SWEEP_MS. Bee-Queue raises them only on its timer, set from the due times
   * it is told of: a retry saved while Redis was down (its MULTI sent on reconnect, its message published before the
   * subscriber was back) was told to nobody, and sat overdue in the delayed set for good. A step has one ticket at a
   * time, so no new change woke it either (a trial: a machine's find-subjects stopped after a 15 s outage).
   */
  private sweepDelayed(): void {
    clearInterval(this.sweep);
    this.sweep = setInterval(() => {
      for (const queue of this.queues.values()) {
        const q = queue as unknown as { client?: { ready?: boolean }; paused?: boolean; _activateDelayed?: () => void };
        if (q.client?.ready && !q.paused) q._activateDelayed?.();
      }
    }, DELAYED_SWEEP_MS);
    this.sweep.unref();
  }

  /**
   * Waits for running jobs up to `timeoutMs`, then gives up on them (Bee-Queue re-runs stalled jobs); resolves
   * whether it gave up on any.
   */
  async close(timeoutMs: number): Promise<boolean> {
    clearInterval(this.sweep);
    const closed = await Promise.all([...this.queues.values()].map((q) => q.close(timeoutMs).then(() => true, () => false)));
    this.abandoned = closed.includes(false);
    return this.abandoned;
  }
}
