import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { SyncMachines } from 'sync-machine';
import { deleteKeys } from '../../demo/redis';

/**
 * Fresh Redis prefixes for one bench run, all removed by cleanup(): every runtime, queue and lock of the run
 * lives under one of them, so nothing is shared with other runs on the same Redis.
 */
export class Prefixes {
  private readonly made: string[] = [];

  constructor(private readonly redisUrl: string) {}

  fresh(what: string): string {
    const prefix = `sync-machine-bench-${what}-${randomBytes(4).toString('hex')}`;
    this.made.push(prefix);
    return prefix;
  }

  async cleanup(): Promise<void> {
    const redis = new Redis(this.redisUrl);
    try {
      for (const prefix of this.made.splice(0)) await deleteKeys(redis, prefix);
    } finally {
      await redis.quit();
    }
  }
}

/** A runtime through the public API only; `concurrency` starts a worker, without it the runtime only captures. */
export function startSync(orm: unknown, machine: object, redis: string, prefix: string, concurrency?: number): Promise<SyncMachines> {
  return SyncMachines.start({
    orm, redis, prefix, machines: [machine],
    worker: concurrency ? { concurrency } : undefined,
  });
}

/**
 * Queue jobs run, from `status().outcomes` (`<step>:<outcome>` counters): a step's `<step>:jobs` entry when it
 * has one (runs that carry batches count jobs apart from outcomes), else the sum of that step's outcomes (one
 * outcome per job, as before batches).
 */
export function jobsRun(outcomes: Record<string, number>): Map<string, number> {
  const byStep = new Map<string, { jobs?: number; sum: number }>();
  for (const [key, count] of Object.entries(outcomes)) {
    const cut = key.lastIndexOf(':');
    if (cut <= 0) continue;
    const step = key.slice(0, cut);
    const entry = byStep.get(step) ?? { sum: 0 };
    if (key.slice(cut + 1) === 'jobs') entry.jobs = count;
    else entry.sum += count;
    byStep.set(step, entry);
  }
  return new Map([...byStep].map(([step, e]) => [step, e.jobs ?? e.sum]));
}

/** Jobs per step run between two `status().outcomes` readings. */
export function jobsBetween(before: Record<string, number>, after: Record<string, number>): Map<string, number> {
  const start = jobsRun(before);
  return new Map([...jobsRun(after)].map(([step, n]) => [step, n - (start.get(step) ?? 0)]));
}

export async function outcomesOf(sync: SyncMachines): Promise<Record<string, number>> {
  const [status] = await sync.status({ limit: 1 });
  return status.outcomes;
}
