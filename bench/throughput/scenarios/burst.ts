import BeeQueue from 'bee-queue';
import { DataSource, In } from 'typeorm';
import type { SyncMachines } from 'sync-machine';
import { ApiClient } from '../../../demo/api-client';
import { planBurst } from '../../../demo/burst';
import { runBurst } from '../../../demo/typeorm';
import { lockForWrites } from '../../../demo/typeorm/data-source';
import { OrderToApiSync } from '../../../demo/typeorm/order-to-api-sync';
import { Order } from '../../../demo/typeorm/shop';
import type { CountingApi } from '../api';
import { BenchConfig, boundMs, DatabaseKind } from '../config';
import { connectShop, freshDatabase, seedShop } from '../database';
import { now, percentile, until } from '../measure';
import { jobsBetween, outcomesOf, Prefixes, startSync } from '../runtime';
import { SettledMemory, WorkerProcess } from '../worker-client';
import { NAIVE_QUEUE } from '../worker-settings';

export interface BurstResult {
  writes: number;
  /** Orders the burst wrote to. */
  distinctSubjects: number;
  /** Orders whose payload differs after the burst, counted by building before and after. */
  finalChanged: number;
  syncMachine: {
    calls: number; jobs: Map<string, number>; seconds: number;
    /** After priming and the latency samples, before the warm-up burst. */
    primed: SettledMemory;
    start: SettledMemory; end: SettledMemory; rssPeak: number;
  };
  naive: { calls: number; jobs: number; seconds: number; start: SettledMemory; end: SettledMemory };
  latency: { p50: number; p99: number; samples: number };
}

/**
 * The web process (this one) writes and captures; the worker runs in its own process. First single writes with
 * an idle worker (commit -> API latency), then the burst while the worker runs; then the same burst the naive way.
 */
export async function measureBurst(
  config: BenchConfig, kind: DatabaseKind, api: CountingApi, prefixes: Prefixes, log: (line: string) => void,
): Promise<BurstResult> {
  const db = await freshDatabase(kind, config.postgresUrl);
  const shop = await connectShop(db);
  const machine = new OrderToApiSync(new ApiClient(api.url));
  const stops: Array<() => Promise<void>> = [];
  try {
    const ids = await seedShop(shop, config.burstOrders, config.ordersPerCustomer);
    const plan = planBurst(ids.length, config.burst);
    const distinctSubjects = new Set(plan.flat().map((w) => w.order)).size;
    const writes = plan.flat().length;
    const before = await payloads(shop, machine, ids);

    const prefix = prefixes.fresh('burst');
    const worker = await WorkerProcess.start({
      mode: 'sync', databaseUrl: db.url, redisUrl: config.redisUrl, prefix, apiUrl: api.url, concurrency: config.concurrency,
    });
    stops.push(() => worker.stop());
    const capture = await startSync(shop, machine, config.redisUrl, prefix);
    stops.push(() => capture.close());
    await capture.resync(OrderToApiSync);
    await capture.drain({ timeoutMs: boundMs(ids.length) });

    const latency = await measureLatency(shop, api, capture, ids, config.latencySamples);
    log(`  ${kind}: latency commit -> API p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms (${latency.samples} samples)`);

    const primed = await worker.settled();
    await warmUp(config, shop, api, capture, ids);
    const outcomes = await outcomesOf(capture);
    const start = await worker.settled();
    let rssPeak = start.rss;
    // One sample at a time: a worker busy for seconds would otherwise pile up waiting listeners on its channel.
    let sampling = false;
    const sampler = setInterval(() => {
      if (sampling) return;
      sampling = true;
      worker.rss().then((rss) => { rssPeak = Math.max(rssPeak, rss); }, () => undefined).finally(() => { sampling = false; });
    }, 500);
    const calls = api.calls;
    const started = now();
    await runBurst(shop, await loadInOrder(shop, ids), plan);
    await capture.drain({ timeoutMs: boundMs(writes) });
    const seconds = (now() - started) / 1000;
    clearInterval(sampler);
    const syncMachine = {
      calls: api.calls - calls, jobs: jobsBetween(outcomes, await outcomesOf(capture)), seconds,
      primed, start, end: await worker.settled(), rssPeak,
    };
    const after = await payloads(shop, machine, ids);
    const finalChanged = ids.filter((id) => before.get(id) !== after.get(id)).length;
    if (finalChanged !== config.burst.changed) {
      throw new Error(`bench: the burst plan promised ${config.burst.changed} orders with a different final payload, found ${finalChanged}`);
    }
    log(`  ${kind}: burst, sync-machine: ${writes} writes, ${syncMachine.calls} API calls, ${[...syncMachine.jobs.values()].reduce((a, b) => a + b, 0)} jobs, ` +
      `${seconds.toFixed(1)} s, worker RSS ${syncMachine.start.rss} -> ${syncMachine.end.rss} bytes ` +
      `(young generation ${syncMachine.start.young} -> ${syncMachine.end.young}; after priming ${syncMachine.primed.rss}, young ${syncMachine.primed.young})`);
    for (const stop of stops.splice(0).reverse()) await stop();

    const naive = await naiveBurst(config, shop, db.url, api, prefixes, ids, plan);
    log(`  ${kind}: burst, naive: ${naive.calls} API calls, ${naive.seconds.toFixed(1)} s`);
    return { writes, distinctSubjects, finalChanged, syncMachine, naive, latency };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await shop.destroy();
    await db.dispose();
  }
}

/**
 * As many writes as the burst, warehouse churn only (no payload changes, so no API call), worked off before the
 * start reading: the worker then holds what this kind of work makes it hold (compiled code, the allocator's arenas,
 * SQLite's page cache) at both readings, and start -> end shows what the burst itself adds. Without it the start
 * reading sometimes held memory that was given back only during the burst (RSS fell 10-17% in 6 of 13 runs), and
 * SQLite's worker took a one-time step of about 6 MB in its first or second burst (then flat over three more).
 * The reading after priming stays in the table. The codes go back to W1 behind the ORM's back, so the burst's
 * every write is a real change.
 */
async function warmUp(config: BenchConfig, shop: DataSource, api: CountingApi, capture: SyncMachines, ids: number[]): Promise<void> {
  const shape = { ...config.burst, changed: 0, flippedBack: 0, seed: config.burst.seed + 1 };
  const plan = planBurst(ids.length, shape);
  const calls = api.calls;
  await runBurst(shop, await loadInOrder(shop, ids), plan);
  await capture.drain({ timeoutMs: boundMs(shape.writes) });
  if (api.calls !== calls) throw new Error(`bench: the warm-up burst changed no payload but made ${api.calls - calls} API calls`);
  await shop.getRepository(Order).createQueryBuilder().update().set({ warehouseCode: 'W1' }).where({ id: In(ids) })
    .callListeners(false).execute();
}

async function loadInOrder(shop: DataSource, ids: number[]): Promise<Order[]> {
  const byId = new Map((await shop.getRepository(Order).findBy({ id: In(ids) })).map((o) => [o.id, o]));
  return ids.map((id) => byId.get(id)!);
}

async function payloads(shop: DataSource, machine: OrderToApiSync, ids: number[]): Promise<Map<number, string>> {
  return new Map((await loadInOrder(shop, ids)).map((o) => [o.id, JSON.stringify(machine.build(o))]));
}

/**
 * Single writes with the worker idle: from the commit (a subscriber's afterTransactionCommit, registered before
 * the runtime's) to the API receiving that order. Each pair of samples flips one order there and back, so every
 * order ends as it began; drain() between samples keeps the worker idle.
 */
async function measureLatency(
  shop: DataSource, api: CountingApi, capture: SyncMachines, ids: number[], samples: number,
): Promise<{ p50: number; p99: number; samples: number }> {
  let committedAt = 0;
  const clock = { afterTransactionCommit: () => { committedAt = performance.now(); } };
  shop.subscribers.unshift(clock as never);
  const orders = await loadInOrder(shop, ids.slice(0, 50));
  const latencies: number[] = [];
  try {
    for (let s = 0; s < samples; s++) {
      const order = orders[Math.floor(s / 2) % orders.length];
      order.status = s % 2 === 0 ? 'shipped' : 'purchased';
      const heard = api.whenCalled(String(order.id), 10_000);
      await shop.transaction(async (manager) => {
        await lockForWrites(manager);
        await manager.save(order);
      });
      latencies.push((await heard) - committedAt);
      await capture.drain({ timeoutMs: boundMs(1) });
    }
  } finally {
    shop.subscribers.splice(shop.subscribers.indexOf(clock as never), 1);
  }
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), samples };
}

/** (d) One Bee-Queue job per write, enqueued after each transaction commits; a worker process loads, builds, posts. */
async function naiveBurst(
  config: BenchConfig, shop: DataSource, databaseUrl: string, api: CountingApi, prefixes: Prefixes,
  ids: number[], plan: ReturnType<typeof planBurst>,
): Promise<BurstResult['naive']> {
  // Back to where the burst started, behind the ORM's back: no runtime is listening any more.
  const orders = shop.getRepository(Order);
  await orders.createQueryBuilder().update().set({ status: 'purchased', warehouseCode: 'W1' }).where({ id: In(ids) }).execute();
  const prefix = prefixes.fresh('naive');
  const worker = await WorkerProcess.start({
    mode: 'naive', databaseUrl, redisUrl: config.redisUrl, prefix, apiUrl: api.url, concurrency: config.concurrency,
  });
  const queue = new BeeQueue(NAIVE_QUEUE, { prefix, redis: { url: config.redisUrl }, isWorker: false, sendEvents: false, getEvents: false });
  try {
    await queue.ready();
    const loaded = await loadInOrder(shop, ids);
    const start = await worker.settled();
    const writes = plan.flat().length;
    const calls = api.calls;
    const started = now();
    for (const transaction of plan) {
      await runBurst(shop, loaded, [transaction]);
      const errors = await queue.saveAll(transaction.map((w) => queue.createJob({ id: loaded[w.order].id })));
      if (errors.size > 0) throw new Error(`bench: naive enqueue failed for ${errors.size} jobs: ${[...errors.values()][0]}`);
    }
    await until(`the naive worker's ${writes} API calls`, () => api.calls - calls >= writes, boundMs(writes));
    const seconds = (now() - started) / 1000;
    return { calls: api.calls - calls, jobs: writes, seconds, start, end: await worker.settled() };
  } finally {
    await queue.close(5_000).catch(() => undefined);
    await worker.stop();
  }
}
