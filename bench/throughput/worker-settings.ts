/** What the bench hands a worker process (in BENCH_WORKER, as JSON). */
export interface WorkerSettings {
  /** sync: sync-machine's worker for the demo's OrderToApiSync; naive: one Bee-Queue job per write. */
  mode: 'sync' | 'naive';
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  apiUrl: string;
  concurrency: number;
}

/** The naive contender's Bee-Queue queue name (under its own prefix). */
export const NAIVE_QUEUE = 'naive';
