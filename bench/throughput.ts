import 'reflect-metadata';
import { cpus, loadavg, totalmem } from 'node:os';
import { CountingApi } from './throughput/api';
import { parseArgs } from './throughput/config';
import { markdownTable, regressions, DatabaseResult } from './throughput/report';
import { Prefixes } from './throughput/runtime';
import { measureBurst } from './throughput/scenarios/burst';
import { measureCaptureCost, measureMikroOrmCaptureCost } from './throughput/scenarios/capture';
import { rawQueueJobsPerSecond } from './throughput/scenarios/raw-queue';
import { measureSubjectRates } from './throughput/scenarios/subjects';

/*
 * npm run bench [-- --quick] [-- --check-jobs] [-- --db=postgres|sqlite] [-- --orders=N] [-- --concurrency=N]
 * Every contender side by side in one run, on each database, through the public API only, so the same
 * command measures the pipeline before and after a rewrite. Prints one markdown table; exits 1 when an exact
 * count regresses (burst API calls; with --check-jobs, burst queue jobs).
 */
async function main(): Promise<void> {
  const config = parseArgs(process.argv.slice(2));
  const log = (line: string) => console.error(line); // progress on stderr, the table alone on stdout
  const began = Date.now();
  log(`sync-machine bench (${config.quick ? 'quick' : 'full'}): ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GB, ` +
    `load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}, Node ${process.version}`);
  const api = await new CountingApi().start();
  const prefixes = new Prefixes(config.redisUrl);
  // Stopped by hand (Ctrl-C, CI timeout): remove this run's Redis keys at least. A database being used at that
  // moment stays: its name starts with sync_machine_bench_ (a schema in PostgreSQL, a file in the temp dir).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { void prefixes.cleanup().finally(() => process.exit(130)); });
  }
  const results: DatabaseResult[] = [];
  try {
    for (const kind of config.databases) {
      log(`${kind}:`);
      const rates = await measureSubjectRates(config, kind, api, prefixes, log);
      const rawJobsPerSecond = await rawQueueJobsPerSecond(config.redisUrl, prefixes.fresh('raw'), config.orders, config.concurrency);
      log(`  ${kind}: raw Bee-Queue ${Math.round(rawJobsPerSecond)} no-op jobs/s`);
      const capture = await measureCaptureCost(config, kind, prefixes);
      log(`  ${kind}: capture ${capture.capturedMs.toFixed(0)} ms vs plain ${capture.plainMs.toFixed(0)} ms (medians); paired ratio ${capture.ratio.toFixed(3)}, floor ${capture.floorRatio.toFixed(3)}`);
      const mikroOrmCapture = await measureMikroOrmCaptureCost(config, kind, prefixes);
      log(`  ${kind}: MikroORM capture ${mikroOrmCapture.capturedMs.toFixed(1)} ms vs plain ${mikroOrmCapture.plainMs.toFixed(1)} ms (medians); paired ratio ${mikroOrmCapture.ratio.toFixed(3)}, floor ${mikroOrmCapture.floorRatio.toFixed(3)}`);
      const burst = await measureBurst(config, kind, api, prefixes, log);
      results.push({ kind, rates, rawJobsPerSecond, capture, mikroOrmCapture, burst });
      // This database's column now, so a run stopped during the next database still leaves its figures.
      log(`${kind} done:\n${markdownTable(config, results.slice(-1))}`);
    }
  } finally {
    await prefixes.cleanup();
    await api.stop();
  }
  log(`done in ${((Date.now() - began) / 1000).toFixed(0)} s; load average now ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(markdownTable(config, results));
  const failures = regressions(config, results);
  for (const failure of failures) console.error(`REGRESSION: ${failure}`);
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exitCode = 1;
}).finally(() => process.exit()); // a handle left open by a contender must not keep the bench (and CI) waiting

