import 'reflect-metadata';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import BeeQueue from 'bee-queue';
import Redis from 'ioredis';
import { KeySpace, SyncMachines } from 'sync-machine';
import { ApiClient } from '../demo/api-client';
import { planBurst } from '../demo/burst';
import { freshDatabase } from '../demo/database';
import { deleteKeys } from '../demo/redis';
import { runBurst, typeOrm } from '../demo/typeorm';
import { connect, createTables } from '../demo/typeorm/data-source';
import { OrderToApiSync } from '../demo/typeorm/order-to-api-sync';
import { Customer, Order } from '../demo/typeorm/shop';

/*
 * A migration-style burst (the demo's: 5,000 saves over 200 orders, 60 of which end with a different payload),
 * worked off three ways in one run: sync-machine; the naive way (one job per write that loads, builds and
 * posts); and, for scale, raw Bee-Queue moving the same number of no-op jobs.
 */
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ORDERS = 200;
const SHAPE = { writes: 5000, perTransaction: 250, changed: 60, flippedBack: 40, seed: 7 };
const CONCURRENCY = 20;

async function partnerApi() {
  let calls = 0;
  const server = createServer((req, res) => { calls += 1; req.resume(); req.on('end', () => res.writeHead(204).end()); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls: () => calls, close: () => server.close() };
}

const seconds = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e9;

/** A fresh shop with ORDERS orders, each published once; the burst is planned against them. */
async function shop(apiUrl: string, prefix: string) {
  const db = await freshDatabase(undefined, typeOrm);
  const dataSource = await connect(db.url);
  await createTables(dataSource);
  const machine = new OrderToApiSync(new ApiClient(apiUrl));
  const customer = await dataSource.getRepository(Customer).save({ firstName: 'Jane', lastName: 'Yang', email: '' });
  const orders: Order[] = [];
  for (let i = 0; i < ORDERS; i++) {
    const repo = dataSource.getRepository(Order);
    orders.push(await repo.save(repo.create({ customerId: customer.id, customer, status: 'purchased', warehouseCode: 'W1' })));
  }
  return { db, dataSource, machine, orders, prefix };
}

async function withSyncMachine(apiUrl: string, calls: () => number) {
  const prefix = `sync-machine-bench-${randomBytes(4).toString('hex')}`;
  const { db, dataSource, machine, orders } = await shop(apiUrl, prefix);
  const start = (worker: boolean) => SyncMachines.start({
    orm: dataSource, redis: REDIS_URL, prefix, machines: [machine], worker: worker ? { concurrency: CONCURRENCY } : undefined,
  });
  const first = await start(true);
  await first.resync(OrderToApiSync);
  await first.drain();
  await first.close();
  const capture = await start(false); // the burst lands while no worker runs, as in a migration
  await runBurst(dataSource, orders, planBurst(ORDERS, SHAPE));
  const before = calls();
  const redis = new Redis(REDIS_URL);
  // Run tickets: `<step>:jobs`; the other counters count subjects and rows by outcome.
  const jobsOf = async () => Object.entries(await redis.hgetall(new KeySpace(prefix).stats('OrderToApiSync')))
    .filter(([field]) => field.endsWith(':jobs')).reduce((n, [, v]) => n + Number(v), 0);
  const jobsBefore = await jobsOf();
  const t = process.hrtime.bigint();
  const worker = await start(true);
  await worker.drain();
  const elapsed = seconds(t);
  const result = { seconds: elapsed, jobs: (await jobsOf()) - jobsBefore, calls: calls() - before };
  await worker.close(); await capture.close(); await dataSource.destroy(); await db.dispose();
  await deleteKeys(redis, prefix); await redis.quit();
  return result;
}

/** The naive way: every save enqueues a job; each job loads the order, builds and posts, changed or not. */
async function naive(apiUrl: string, calls: () => number) {
  const prefix = `sync-machine-bench-${randomBytes(4).toString('hex')}`;
  const { db, dataSource, machine, orders } = await shop(apiUrl, prefix);
  const api = new ApiClient(apiUrl);
  const queue = new BeeQueue('naive', { prefix, redis: { url: REDIS_URL }, removeOnSuccess: true, sendEvents: false, getEvents: false });
  const plan = planBurst(ORDERS, SHAPE);
  await runBurst(dataSource, orders, plan);
  await queue.saveAll(plan.flat().map((write) => queue.createJob({ id: orders[write.order].id })));
  const before = calls();
  const t = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    let left = SHAPE.writes;
    queue.process(CONCURRENCY, async (job: BeeQueue.Job<{ id: number }>) => {
      const order = await dataSource.getRepository(Order).findOneByOrFail({ id: job.data.id });
      await api.putOrder(String(order.id), machine.build(order));
      if (--left === 0) setImmediate(resolve);
    });
  });
  const result = { seconds: seconds(t), jobs: SHAPE.writes, calls: calls() - before };
  await queue.close(); await dataSource.destroy(); await db.dispose();
  const redis = new Redis(REDIS_URL); await deleteKeys(redis, prefix); await redis.quit();
  return result;
}

/** Raw Bee-Queue: the same number of jobs, doing nothing. */
async function rawQueue() {
  const prefix = `sync-machine-bench-${randomBytes(4).toString('hex')}`;
  const queue = new BeeQueue('raw', { prefix, redis: { url: REDIS_URL }, removeOnSuccess: true, sendEvents: false, getEvents: false });
  await queue.saveAll(Array.from({ length: SHAPE.writes }, (_, i) => queue.createJob({ i })));
  const t = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    let left = SHAPE.writes;
    queue.process(50, async () => { if (--left === 0) setImmediate(resolve); });
  });
  const elapsed = seconds(t);
  await queue.close();
  const redis = new Redis(REDIS_URL); await deleteKeys(redis, prefix); await redis.quit();
  return { seconds: elapsed, jobs: SHAPE.writes };
}

async function main() {
  const api = await partnerApi();
  const n = await naive(api.url, api.calls);
  const s = await withSyncMachine(api.url, api.calls);
  const r = await rawQueue();
  api.close();
  const row = (name: string, x: { seconds: number; jobs: number; calls?: number }) =>
    console.log(`${name.padEnd(34)} ${String(x.jobs).padStart(6)} jobs ${String(x.calls ?? '-').padStart(6)} API calls ` +
      `${x.seconds.toFixed(2).padStart(7)} s ${(x.jobs / x.seconds).toFixed(0).padStart(7)} jobs/s`);
  console.log(`burst: ${SHAPE.writes} saves over ${ORDERS} orders, ${SHAPE.changed} end with a different payload; worker concurrency ${CONCURRENCY}\n`);
  row('naive (a job per write)', n);
  row('sync-machine', s);
  row('raw Bee-Queue, no-op jobs', r);
  console.log(`\nsync-machine vs naive: ${(n.calls / Math.max(1, s.calls)).toFixed(1)}x fewer API calls, ` +
    `${(n.jobs / s.jobs).toFixed(1)}x fewer jobs, ${(n.seconds / s.seconds).toFixed(1)}x less time to work off the burst`);
  console.log(`sync-machine jobs/s vs raw Bee-Queue no-op jobs/s: ${((s.jobs / s.seconds) / (r.jobs / r.seconds)).toFixed(3)}`);
}

main().catch((error) => { console.error(error); process.exitCode = 1; });
