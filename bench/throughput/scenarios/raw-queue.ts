import BeeQueue from 'bee-queue';
import { now, until } from '../measure';

/** (c) Raw Bee-Queue: `jobs` no-op jobs at `concurrency`, timed from the start of processing; jobs/s. */
export async function rawQueueJobsPerSecond(redisUrl: string, prefix: string, jobs: number, concurrency: number): Promise<number> {
  const queue = new BeeQueue('raw', { prefix, redis: { url: redisUrl }, removeOnSuccess: true, sendEvents: false, getEvents: false });
  try {
    await queue.ready();
    await queue.saveAll(Array.from({ length: jobs }, (_, i) => queue.createJob({ i })));
    let done = 0;
    const started = now();
    queue.process(concurrency, async () => { done += 1; });
    await until(`${jobs} no-op jobs`, () => done >= jobs, 120_000, 1);
    return jobs / ((now() - started) / 1000);
  } finally {
    await queue.close(5_000);
  }
}
