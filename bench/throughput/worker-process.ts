import 'reflect-metadata';
import { getHeapSpaceStatistics } from 'node:v8';
import BeeQueue from 'bee-queue';
import { DataSource } from 'typeorm';
import { ApiClient } from '../../demo/api-client';
import { optionsFor } from '../../demo/typeorm/data-source';
import { OrderToApiSync } from '../../demo/typeorm/order-to-api-sync';
import { Order } from '../../demo/typeorm/shop';
import { startSync } from './runtime';
import { NAIVE_QUEUE, WorkerSettings } from './worker-settings';

/*
 * A worker in its own process, as apps deploy it (and as SQLite needs: TypeORM's better-sqlite3 driver has one
 * connection, so an in-process worker would run inside the writer's transactions). Two modes:
 *   sync   sync-machine's worker for the demo's OrderToApiSync;
 *   naive  one Bee-Queue job per write: load the order, build, post, changed or not.
 * Settings come in BENCH_WORKER (JSON, see worker-settings.ts). It answers { rss } to 'rss' (and { rss, young, settled } to
 * 'rss-settled', read at rest), closes and exits on 'stop'.
 */
async function main(): Promise<void> {
  const settings = JSON.parse(process.env.BENCH_WORKER ?? '') as WorkerSettings;
  const dataSource = await new DataSource(optionsFor(settings.databaseUrl)).initialize();
  const machine = new OrderToApiSync(new ApiClient(settings.apiUrl));
  let close: () => Promise<void>;
  if (settings.mode === 'sync') {
    const sync = await startSync(dataSource, machine, settings.redisUrl, settings.prefix, settings.concurrency);
    close = () => sync.close();
  } else {
    const queue = new BeeQueue(NAIVE_QUEUE, {
      prefix: settings.prefix, redis: { url: settings.redisUrl }, removeOnSuccess: true, sendEvents: false, getEvents: false,
    });
    await queue.ready();
    const orders = dataSource.getRepository(Order);
    queue.process(settings.concurrency, async (job: BeeQueue.Job<{ id: number }>) => {
      const order = await orders.findOneByOrFail({ id: job.data.id });
      await machine.publish(order, machine.build(order));
    });
    close = () => queue.close(10_000);
  }
  process.on('message', (message: string) => {
    if (message === 'rss') process.send!({ rss: process.memoryUsage().rss });
    if (message === 'rss-settled') void settledMemory().then((memory) => process.send!({ ...memory, settled: true }));
    if (message === 'stop') {
      void close().finally(() => dataSource.destroy()).finally(() => process.exit(0));
    }
  });
  // The bench died without stopping us: do not linger holding connections.
  process.on('disconnect', () => process.exit(1));
  process.send!({ ready: true });
}

main().catch((error) => {
  console.error(`bench worker failed to start: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});

/**
 * RSS at rest: a full GC, a pause in which V8 gives back what it no longer needs, another GC, and a short wait for
 * V8's background thread to unmap the pages that GC freed (read at once, RSS sometimes still held 30 MB of them).
 * With it, `young`: what V8's young generation holds in RAM. V8 commits its second semi-space and grows or shrinks
 * both by its own schedule (0 to 32 MB here), so two readings at rest differ by that much with the same live data.
 */
async function settledMemory(): Promise<{ rss: number; young: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  gc?.();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const young = getHeapSpaceStatistics().filter((s) => s.space_name === 'new_space' || s.space_name === 'new_large_object_space')
    .reduce((sum, s) => sum + s.physical_space_size, 0);
  return { rss: process.memoryUsage().rss, young };
}
