import type Redis from 'ioredis';
import { STEPS } from '../pipeline/queues';
import type { KeySpace, Step } from '../redis/keys';
import { readRecentPublishes, RecentPublish } from '../redis/recent-publishes';
import { FailedJob, readFailedJobs } from './failed-jobs';

export interface QueueCounts {
  waiting: number;
  active: number;
  /** Retries waiting out their backoff, and runs re-delayed because the subject was locked. */
  delayed: number;
  failed: number;
}

/** What `SyncMachines.status()` reports for one machine. */
export interface MachineStatus {
  machine: string;
  /** The subject entity's name. */
  subject: string;
  queues: Record<Step, QueueCounts>;
  /** Run outcomes counted since the prefix was first used, by `<step>:<outcome>`. */
  outcomes: Record<string, number>;
  /** Newest first. */
  lastPublishes: RecentPublish[];
  /** Newest first, at most the limit asked for; `queues[step].failed` has the full counts. */
  failures: FailedJob[];
}

/** Reads one machine's status from Redis: one pipelined round trip for the counts, then the lists. */
export async function readMachineStatus(
  redis: Redis, keys: KeySpace, machine: { name: string; subject: string }, limit: number,
): Promise<MachineStatus> {
  const pipeline = redis.pipeline();
  for (const step of STEPS) {
    pipeline.llen(keys.queueKey(machine.name, step, 'waiting'))
      .llen(keys.queueKey(machine.name, step, 'active'))
      .zcard(keys.queueKey(machine.name, step, 'delayed'))
      .scard(keys.queueKey(machine.name, step, 'failed'));
  }
  pipeline.hgetall(keys.stats(machine.name));
  const results = (await pipeline.exec()) ?? [];
  for (const [error] of results) if (error) throw error;
  const values = results.map(([, value]) => value);

  const queues = {} as Record<Step, QueueCounts>;
  STEPS.forEach((step, i) => {
    const [waiting, active, delayed, failed] = values.slice(i * 4, i * 4 + 4).map(Number);
    queues[step] = { waiting, active, delayed, failed };
  });
  const outcomes: Record<string, number> = {};
  for (const [field, count] of Object.entries((values[STEPS.length * 4] ?? {}) as Record<string, string>).sort()) {
    outcomes[field] = Number(count);
  }
  const [lastPublishes, failures] = await Promise.all([
    readRecentPublishes(redis, keys, machine.name, limit),
    readFailedJobs(redis, keys, machine.name, machine.subject, limit),
  ]);
  return { machine: machine.name, subject: machine.subject, queues, outcomes, lastPublishes, failures };
}
