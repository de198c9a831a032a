import 'reflect-metadata';
import { In } from 'typeorm';
import { ApiClient } from '../../demo/api-client';
import { OrderToApiSync } from '../../demo/typeorm/order-to-api-sync';
import { Order } from '../../demo/typeorm/shop';
import { CountingApi } from '../throughput/api';
import { connectShop, freshDatabase, seedShop } from '../throughput/database';
import { Prefixes, startSync } from '../throughput/runtime';
import { HandLoop, runHandLoop } from '../throughput/hand-loop';
import { profiled } from './cpu-profile';

/**
 * With PROFILE=<file>, a CPU profile of sync-machine's unchanged rounds only (priming and the changed run left
 * out); with PROFILE_LOOP=<file>, of the hand-written loop's. PROFILE_CHANGED and PROFILE_LOOP_CHANGED profile
 * the changed runs: sync-machine's drain of 5,000 changed orders, the loop's first pass (it posts every row).
 */

/* node dist/bench/profile/changed.js postgres|sqlite [n]: the changed and unchanged sync-machine paths only, for --cpu-prof. */
async function main(): Promise<void> {
  const kind = (process.argv[2] ?? 'postgres') as 'postgres' | 'sqlite';
  const n = Number(process.argv[3] ?? 5000);
  const api = await new CountingApi().start();
  const prefixes = new Prefixes('redis://127.0.0.1:6379');
  const db = await freshDatabase(kind, 'postgres://postgres@127.0.0.1:5432/test');
  const shop = await connectShop(db);
  const ids = await seedShop(shop, n, 5);
  const machine = new OrderToApiSync(new ApiClient(api.url));
  const prefix = prefixes.fresh('profile');
  let t = Date.now();
  const sync = await startSync(shop, machine, 'redis://127.0.0.1:6379', prefix, 50);
  console.log(`start ${Date.now() - t} ms`);
  t = Date.now();
  await sync.resync(OrderToApiSync);
  await sync.drain({ timeoutMs: 120_000 });
  console.log(`prime ${Date.now() - t} ms`);
  await sync.close();
  const capture = await startSync(shop, machine, 'redis://127.0.0.1:6379', prefix);
  for (let i = 0; i < n; i += 500) {
    await shop.transaction(async (m) => {
      for (const o of await m.getRepository(Order).findBy({ id: In(ids.slice(i, i + 500)) })) { o.status = 'shipped'; await m.save(o); }
    });
  }
  await capture.close();
  t = Date.now();
  const worker = await startSync(shop, machine, 'redis://127.0.0.1:6379', prefix, 50);
  const started = Date.now() - t;
  await profiled(process.env.PROFILE_CHANGED, () => worker.drain({ timeoutMs: 120_000 }));
  console.log(`changed ${Date.now() - t} ms (start ${started} ms), ${Math.round(n / ((Date.now() - t) / 1000))}/s, calls ${api.calls}`);
  await profiled(process.env.PROFILE, async () => {
    for (let round = 0; round < Number(process.argv[4] ?? 1); round++) {
      t = Date.now();
      const cpu = process.cpuUsage();
      await worker.resync(OrderToApiSync);
      const enq = Date.now() - t;
      await worker.drain({ timeoutMs: 120_000 });
      const used = process.cpuUsage(cpu);
      console.log(`unchanged ${Date.now() - t} ms (resync call ${enq} ms, cpu ${Math.round((used.user + used.system) / 1000)} ms), ${Math.round(n / ((Date.now() - t) / 1000))}/s`);
    }
  });
  const loop: HandLoop<Order> = {
    name: 'loop', dataSource: shop, entity: Order, build: (row) => machine.build(row),
    publish: (row, payload) => new ApiClient(api.url).putOrder(String(row.id), payload), pageSize: 500, concurrency: 50,
    rememberPerPage: process.env.PER_PAGE === '1', // PER_PAGE=1: the leaner loop (a′)
  };
  // The loop's first pass posts every row (it remembers no digest yet): its changed path.
  t = Date.now();
  await profiled(process.env.PROFILE_LOOP_CHANGED, () => runHandLoop(loop, n));
  console.log(`loop changed ${Date.now() - t} ms, ${Math.round(n / ((Date.now() - t) / 1000))}/s`);
  await profiled(process.env.PROFILE_LOOP, async () => {
    for (let round = 0; round < Number(process.argv[4] ?? 1); round++) {
      t = Date.now();
      const cpu = process.cpuUsage();
      await runHandLoop(loop, n);
      const used = process.cpuUsage(cpu);
      console.log(`loop unchanged ${Date.now() - t} ms (cpu ${Math.round((used.user + used.system) / 1000)} ms)`);
    }
  });
  await worker.close();
  await shop.destroy();
  await db.dispose();
  await prefixes.cleanup();
  await api.stop();
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
