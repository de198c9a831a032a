import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { lostConnection } from '../redis/wait-for-redis';
import type { ItemResult, RetrySettings, TicketRun, WorkQueue } from './work-queue';

/** How long a FINISH lost with the connection waits before it is sent again (ioredis queues it until Redis is back). */
const AGAIN_AFTER_MS = 250;

/**
 * FINISH of a batch; sent again, while Redis comes back, when the connection was lost under it. A trial stopped Redis
 * mid-backfill: the batches' publishes ended while it was down, their FINISH failed, and Redis came back (from its
 * append-only file) with their locks, so the subjects' next changes waited for those locks to expire: the partner
 * idle for 15 s. Sent again, it runs only while the batch is not finished (finish.lua, ARGV[17]), so nothing is
 * counted twice; worth it while the run's locks last, and until `giveUp` (the runtime closes). Resolves whether the
 * ticket goes on; rejects with the first error when the batch could not be finished (its ticket fails, and is run
 * again or reaped as before).
 */
export async function finishBatch(
  work: WorkQueue, run: TicketRun, claim: string, results: ItemResult[], retry: RetrySettings,
  goOn: 'end' | 'more' | 'linger', lockTtlMs: number, giveUp: () => boolean,
): Promise<boolean> {
  try {
    return await work.finish(run, claim, results, retry, goOn);
  } catch (error) {
    if (!lostConnection(error)) throw error;
    const until = performance.now() + lockTtlMs;
    while (performance.now() < until && !giveUp()) {
      await sleep(AGAIN_AFTER_MS);
      try {
        // The ticket ends: another run of it may have started meanwhile (its stall check found this one silent).
        if (await work.finishAgain(run, claim, results, retry)) return false;
        break;
      } catch (again) {
        if (!lostConnection(again)) break;
      }
    }
    throw error;
  }
}
