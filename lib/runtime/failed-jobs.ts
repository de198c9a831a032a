import type Redis from 'ioredis';
import { STEPS } from '../pipeline/queues';
import type { KeySpace, Step } from '../redis/keys';

/** A job that used up its retries and sits in Bee-Queue's failed set. */
export interface FailedJob {
  step: Step;
  jobId: string;
  /** What the job was about: the subject (ensure-publication) or the changed row (find-subjects). */
  entity?: string;
  id?: string;
  /** Runs made, the first included. */
  attempts: number;
  /** When the job was created (or last put back by retryFailed). */
  enqueuedAt: Date;
  /** The last run's error, without its stack frames. */
  error: string;
}

/** Failed jobs read per step to pick the newest from: Bee-Queue keeps them in an unordered set. */
const FAILED_SCAN_CAP = 1000;

interface StoredJob {
  data?: Record<string, unknown>;
  options?: { timestamp?: number; stacktraces?: string[]; [key: string]: unknown };
  status?: string;
}

function parseJob(raw: string | null): StoredJob | undefined {
  if (!raw) return undefined;
  try {
    const job = JSON.parse(raw) as StoredJob;
    return job && typeof job === 'object' ? job : undefined;
  } catch {
    return undefined;
  }
}

/** Bee-Queue stores `error.stack`; the message is everything before the first stack frame. */
export function errorText(stack: string | undefined): string {
  if (!stack) return '(no error recorded)';
  const lines = stack.split('\n');
  const frame = lines.findIndex((line) => /^\s+at /.test(line));
  return (frame < 0 ? lines : lines.slice(0, frame)).join('\n').trim();
}

async function failedIds(redis: Redis, keys: KeySpace, machine: string, step: Step, cap: number): Promise<string[]> {
  const key = keys.queueKey(machine, step, 'failed');
  const ids = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = await redis.sscan(key, cursor, 'COUNT', 500);
    cursor = next;
    for (const id of batch) ids.add(id);
  } while (cursor !== '0' && ids.size < cap);
  return [...ids].slice(0, cap);
}

/** The newest `limit` failed jobs of both steps of a machine (newest by creation time), with their errors. */
export async function readFailedJobs(
  redis: Redis, keys: KeySpace, machine: string, subjectEntity: string, limit: number,
): Promise<FailedJob[]> {
  if (limit <= 0) return [];
  const found: FailedJob[] = [];
  for (const step of STEPS) {
    const ids = await failedIds(redis, keys, machine, step, FAILED_SCAN_CAP);
    if (ids.length === 0) continue;
    const raws = await redis.hmget(keys.queueKey(machine, step, 'jobs'), ...ids);
    ids.forEach((jobId, i) => {
      const job = parseJob(raws[i]);
      if (!job) return; // removed since the scan
      const data = job.data ?? {};
      const traces = job.options?.stacktraces ?? [];
      const about = step === 'ensure-publication'
        ? { entity: subjectEntity, id: typeof data.subjectId === 'string' ? data.subjectId : undefined }
        : { entity: typeof data.entity === 'string' ? data.entity : undefined, id: typeof data.id === 'string' ? data.id : undefined };
      found.push({
        step, jobId, ...about, attempts: Math.max(1, traces.length),
        enqueuedAt: new Date(job.options?.timestamp ?? 0), error: errorText(traces[0]),
      });
    });
  }
  return found.sort((a, b) => b.enqueuedAt.getTime() - a.enqueuedAt.getTime()).slice(0, limit);
}

/*
 * Moves one job from the failed set back to the waiting list, atomically, and only if nobody changed it
 * since it was read (the stored JSON is compared). The job keeps its id, so a run that had already claimed
 * its coalescing generation finds its claimed data again and goes on (lib/pipeline/coalescer.ts).
 */
const PUT_BACK = `
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('LPUSH', KEYS[3], ARGV[1])
return 1
`;

/**
 * Puts every failed job of `steps` back in its queue with its retries reset: the worker's retry policy
 * applies afresh, and each run loads and builds from current data. Returns how many were put back per step.
 */
export async function retryFailedJobs(
  redis: Redis, keys: KeySpace, machine: string, steps: readonly Step[],
): Promise<Partial<Record<Step, number>>> {
  const counts: Partial<Record<Step, number>> = {};
  for (const step of steps) {
    const failed = keys.queueKey(machine, step, 'failed');
    const jobs = keys.queueKey(machine, step, 'jobs');
    const waiting = keys.queueKey(machine, step, 'waiting');
    let count = 0;
    // The set shrinks as jobs go back; read until a pass moves nothing.
    for (;;) {
      const ids = await failedIds(redis, keys, machine, step, 500);
      if (ids.length === 0) break;
      const raws = await redis.hmget(jobs, ...ids);
      const pipeline = redis.pipeline();
      let queued = 0;
      ids.forEach((jobId, i) => {
        const raw = raws[i];
        const job = parseJob(raw);
        if (!raw || !job) {
          pipeline.srem(failed, jobId); // the job's data is gone: nothing to run
          return;
        }
        const fresh = JSON.stringify({
          data: job.data, status: 'created', progress: 0,
          options: { ...job.options, timestamp: Date.now(), retries: 0, stacktraces: [] },
        });
        pipeline.eval(PUT_BACK, 3, failed, jobs, waiting, jobId, raw, fresh);
        queued += 1;
      });
      const results = (await pipeline.exec()) ?? [];
      const moved = results.filter(([error, value]) => !error && value === 1).length;
      count += moved;
      if (moved === 0 && queued > 0) break; // every job changed under us: leave them to the next call
    }
    counts[step] = count;
  }
  return counts;
}
