import type { BurstShape } from '../../demo/burst';

/** Which databases and how much work: `--quick` is the CI size (< 2 minutes on 2 cores), the default the issue's. */
export interface BenchConfig {
  quick: boolean;
  /** Fail when burst queue jobs exceed ceil(distinct subjects / BATCH_SIZE) + JOB_SLACK (turned on after the batch rewrite). */
  checkJobs: boolean;
  databases: DatabaseKind[];
  redisUrl: string;
  postgresUrl: string;
  /** Orders changed once and worked off; also resynced unchanged; raw no-op jobs moved (`--orders=N`). */
  orders: number;
  /** Orders per customer: the DataLoader has rows to share. */
  ordersPerCustomer: number;
  pageSize: number;
  concurrency: number;
  burstOrders: number;
  burst: BurstShape;
  captureRows: number;
  captureRounds: number;
  /**
   * Pairs for MikroORM's capture: its transaction takes 40-60 ms, where the same milliseconds of a busy machine
   * weigh ten times what they do beside TypeORM's; at 31 pairs its figure swung 0.96-1.14 between runs.
   */
  mikroOrmCaptureRounds: number;
  /** Alternating rounds of the changed run and its loops (every order flips each round); the table shows medians. */
  changedRounds: number;
  /** Alternating rounds of the unchanged resync and its loops; the table shows each contender's median. */
  unchangedRounds: number;
  /**
   * Unchanged rounds run first and not counted. Every contender sped up over the first rounds after the changed
   * runs, sync-machine more than the loops (SQLite, 15 rounds: its ratio read 0.79, 0.86, 1.03, then 0.72-1.42
   * around 1.04), so the median of 5 counted rounds weighed a start-up that a backfill of many pages does not see.
   */
  unchangedWarmUpRounds: number;
  latencySamples: number;
}

export type DatabaseKind = 'postgres' | 'sqlite';

/** sync-machine's default batchSize (lib/metadata/discover.ts), which the bench machines keep. */
export const BATCH_SIZE = 500;

/**
 * Upper bound for waiting on `work` subjects (drain, a worker's calls): generous (50 ms a subject, 20 per second,
 * slower than anything measured on a loaded machine) but finite, so a stuck run fails instead of hanging CI.
 */
export function boundMs(work: number): number {
  return 60_000 + work * 50;
}
export const JOB_SLACK = 10;

export function parseArgs(argv: string[]): BenchConfig {
  const known = new Set(['--quick', '--check-jobs', '--db', '--orders', '--concurrency']);
  for (const arg of argv) {
    const name = arg.split('=')[0];
    if (arg.startsWith('--') && !known.has(name)) {
      throw new Error(`bench: unknown option ${arg}; use --quick, --check-jobs, --db=postgres|sqlite, --orders=<count>, --concurrency=<n>`);
    }
  }
  const quick = argv.includes('--quick');
  const db = argv.find((a) => a.startsWith('--db='))?.slice('--db='.length);
  if (db !== undefined && db !== 'postgres' && db !== 'sqlite') throw new Error(`bench: --db must be postgres or sqlite, got ${db}`);
  const ordersArg = argv.find((a) => a.startsWith('--orders='))?.slice('--orders='.length);
  const orders = ordersArg === undefined ? (quick ? 500 : 5000) : Number(ordersArg);
  // The subject rows at the size of a user's own backfill; below a page of 500 they measure start-up, not throughput.
  if (!Number.isInteger(orders) || orders < 500 || orders > 1_000_000) {
    throw new Error(`bench: --orders must be a whole number from 500 to 1000000 (the orders of the changed and unchanged rows), got ${ordersArg}`);
  }
  // The worker's concurrency and the loops' alike (default 50); a user's own (sync-machine's default is 10) shows
  // what their backfill gets.
  const concurrencyArg = argv.find((a) => a.startsWith('--concurrency='))?.slice('--concurrency='.length);
  const concurrency = concurrencyArg === undefined ? 50 : Number(concurrencyArg);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000) {
    throw new Error(`bench: --concurrency must be a whole number from 1 to 1000 (the worker's and the loops'), got ${concurrencyArg}`);
  }
  return {
    quick,
    checkJobs: argv.includes('--check-jobs'),
    databases: db ? [db] : ['postgres', 'sqlite'],
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    postgresUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    orders,
    ordersPerCustomer: 5,
    pageSize: 500,
    concurrency,
    burstOrders: quick ? 100 : 1000,
    burst: quick
      ? { writes: 2000, perTransaction: 200, changed: 10, flippedBack: 10, seed: 8 }
      : { writes: 100_000, perTransaction: 500, changed: 100, flippedBack: 100, seed: 8 },
    captureRows: 1000,
    captureRounds: quick ? 3 : 31,
    mikroOrmCaptureRounds: quick ? 3 : 81,
    changedRounds: quick ? 1 : 3,
    unchangedRounds: quick ? 1 : 12,
    unchangedWarmUpRounds: quick ? 0 : 3,
    latencySamples: quick ? 30 : 200,
  };
}
