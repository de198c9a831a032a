import 'reflect-metadata';
import { ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { trace } from '@opentelemetry/api';
import Redis from 'ioredis';
import { SyncMachines } from 'sync-machine';
import { ApiClient } from './api-client';
import { freshDatabase } from './database';
import { loadOrm, ormFromArguments } from './orm';
import { PartnerApi } from './partner-api';
import { deleteKeys, readStats, resolveRedis } from './redis';
import { ok, outcomesBetween, printStepLine, printTable, StepResult } from './report';
import { shopSteps } from './steps';
import { startTelemetry, telemetryFromEnvironment } from './telemetry';

const MACHINE = 'OrderToApiSync';

/** What the API must hear about: the orders whose payload, built from the database now, differs from before. */
function changedCount(before: Map<number, string>, after: Map<number, string>): number {
  const ids = new Set([...before.keys(), ...after.keys()]);
  return [...ids].filter((id) => before.get(id) !== after.get(id)).length;
}

/** The worker runs in its own process, as in production; resolves once it is consuming jobs. */
async function startWorker(env: Record<string, string>): Promise<ChildProcess> {
  const child = fork(join(__dirname, 'worker.js'), { env: { ...process.env, ...env } });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the worker did not report ready within 30 s')), 30_000);
    child.once('message', () => { clearTimeout(timer); resolve(); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the worker exited (code ${code}) before it was ready`)); });
  });
  return child;
}

/** SIGTERM and wait: the worker finishes running jobs and exits 0. Resolves to its exit code. */
async function stopWorker(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

async function main(): Promise<boolean> {
  const started = Date.now();
  const ormName = ormFromArguments();
  const orm = loadOrm(ormName);
  const redisInfo = await resolveRedis();
  if (!redisInfo) {
    console.log('The demo needs Redis. Start one and run `npm run demo` again, e.g.:\n' +
      '  redis-server --port 6379 --save "" --appendonly no\n' +
      '  docker run --rm -p 6379:6379 redis:7\n' +
      'or point the demo at one: REDIS_URL=redis://host:port npm run demo');
    return false;
  }
  const cleanups: Array<[string, () => Promise<unknown>]> = [['private redis', () => redisInfo.stop()]];
  // With OTEL_EXPORTER_OTLP_ENDPOINT (Jaeger: http://127.0.0.1:4318) or --trace console; shut down last, to flush.
  const telemetryOptions = telemetryFromEnvironment();
  const telemetry = startTelemetry('shop-web', telemetryOptions);
  if (telemetry) cleanups.push(['telemetry', () => telemetry.shutdown()]);
  const prefix = `sync-machine-demo-${randomBytes(4).toString('hex')}`; // runs sharing a Redis never mix
  const results: StepResult[] = [];
  let workerExit: number | null = 0;
  let stepCount = Infinity;
  try {
    const redis = new Redis(redisInfo.url);
    cleanups.push(['redis keys', async () => { await deleteKeys(redis, prefix); await redis.quit(); }]);
    const api = await new PartnerApi().start();
    cleanups.push(['partner API', () => api.stop()]);
    const db = await freshDatabase(process.env.DATABASE_URL, orm);
    cleanups.push(['database', () => db.dispose()]);
    const shop = await orm.connect(db.url);
    cleanups.push(['connection', () => shop.close()]);
    await shop.createTables();
    console.log(`orm          ${ormName}\ndatabase     ${db.describe}\nredis        ${redisInfo.url}, prefix ${prefix}\npartner API  ${api.url}`);

    // Started after the tables exist: the worker checks the payload table at start.
    const worker = await startWorker({ SYNC_DEMO_ORM: ormName, REDIS_URL: redisInfo.url, DATABASE_URL: db.url, PARTNER_API_URL: api.url, SYNC_PREFIX: prefix,
      ...(telemetryOptions.console ? { SYNC_DEMO_TRACE: 'console' } : {}) });
    cleanups.push(['worker', async () => { workerExit = await stopWorker(worker); }]);
    console.log(`worker       pid ${worker.pid}, concurrency 20`);

    // This process plays the web app: it captures changes and enqueues, and runs no jobs itself.
    const machine = shop.machine(new ApiClient(api.url));
    const sync = await SyncMachines.start({ orm: shop.orm, redis: redisInfo.url, machines: [machine], prefix });
    cleanups.push(['runtime', () => sync.close()]);

    const steps = shopSteps(shop.writes);
    stepCount = steps.length;
    for (const step of steps) {
      console.log(`\n${step.label}`);
      const [statsBefore, before] = [await readStats(redis, prefix, MACHINE), await shop.currentPayloads()];
      api.beginStep(step.printLimit);
      const t0 = Date.now();
      // Each step plays one request of the web app: its span is the root of the step's trace.
      const writes = await trace.getTracer('shop-web').startActiveSpan(step.label, async (span) => {
        try { return await step.run(); } finally { span.end(); }
      });
      await sync.drain({ timeoutMs: 60_000 }); // the step's changes are in Redis once save() resolved
      const ms = Date.now() - t0;
      const calls = api.endStep();
      // Jobs run: each run ticket bumps `<step>:jobs`; the other counters count subjects and changed rows by outcome.
      const outcomes = outcomesBetween(statsBefore, await readStats(redis, prefix, MACHINE));
      const result: StepResult = { label: step.label, writes, ms, calls, outcomes,
        jobs: [...outcomes].filter(([field]) => field.endsWith(':jobs')).reduce((sum, [, n]) => sum + n, 0),
        runs: [...outcomes].filter(([field]) => field.endsWith(':batches')).reduce((sum, [, n]) => sum + n, 0),
        expected: changedCount(before, await shop.currentPayloads()) };
      results.push(result);
      printStepLine(result);
    }
  } catch (error) {
    console.error(`\nThe demo stopped: ${error instanceof Error ? error.stack : String(error)}`);
  } finally {
    for (const [what, cleanup] of cleanups.reverse()) {
      await cleanup().catch((error) => console.error(`closing the ${what} failed: ${String(error)}`));
    }
  }

  console.log('');
  printTable(results);
  const allOk = results.length === stepCount && results.every(ok) && workerExit === 0;
  const burst = results[results.length - 1];
  console.log(`\n${allOk
    ? `OK: every step made exactly the API calls its data change called for; ${burst.writes.toLocaleString('en-US')} burst ` +
      `writes cost ${burst.runs.toLocaleString('en-US')} runs and ${burst.calls} API calls.`
    : `FAILED: ${workerExit !== 0 ? `the worker exited with ${workerExit}; ` : ''}` +
      `${results.filter((r) => !ok(r)).map((r) => r.label).join(', ') || 'not every step ran'}.`} ` +
    `(${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return allOk;
}

main().then((allOk) => { process.exitCode = allOk ? 0 : 1; }, (error) => {
  console.error(error);
  process.exitCode = 1;
});
