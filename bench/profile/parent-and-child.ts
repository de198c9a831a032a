import 'reflect-metadata';
import { ApiClient } from '../../demo/api-client';
import { OrderToApiSync } from '../../demo/typeorm/order-to-api-sync';
import { Customer, Order } from '../../demo/typeorm/shop';
import { SyncMachine } from 'sync-machine';
import { CountingApi } from '../throughput/api';
import { connectShop, freshDatabase } from '../throughput/database';
import { Prefixes, startSync } from '../throughput/runtime';

/*
 * node dist/bench/profile/parent-and-child.js [n] [pauseMs] [debounceMs]: n transactions, each inserting a customer and an order of
 * hers (as an app creates an order with its lines), pauseMs apart, with a worker (concurrency 50) running in this
 * process, on PostgreSQL. Prints builds and API calls per order: the order's own insert requests it, and the
 * customer's insert finds it again through @SubjectIdsFrom (a trial saw orders built twice).
 */
async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 200);
  const pauseMs = Number(process.argv[3] ?? 20);
  const api = await new CountingApi().start();
  const prefixes = new Prefixes('redis://127.0.0.1:6379');
  const db = await freshDatabase('postgres', 'postgres://postgres@127.0.0.1:5432/test');
  const shop = await connectShop(db);
  const debounceMs = Number(process.argv[4] ?? 0);
  @SyncMachine({ subject: Order, name: 'OrderToApiSync', debounceMs })
  class Debounced extends OrderToApiSync {}
  const machine = new Debounced(new ApiClient(api.url));
  let builds = 0;
  const build = machine.build.bind(machine);
  machine.build = ((order: Order) => { builds += 1; return build(order); }) as never;
  const sync = await startSync(shop, machine, 'redis://127.0.0.1:6379', prefixes.fresh('profile'), 50);
  for (let i = 0; i < n; i++) {
    await shop.transaction(async (m) => {
      const customer = await m.save(m.create(Customer, { firstName: 'Ada', lastName: `L${i}` }));
      await m.save(m.create(Order, { customerId: customer.id, customer }));
    });
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
  await sync.drain({ timeoutMs: 120_000 });
  console.log(`${n} orders, ${pauseMs} ms apart, debounceMs ${debounceMs}: builds per order ${(builds / n).toFixed(2)}, calls per order ${(api.calls / n).toFixed(2)}`);
  await sync.close();
  await prefixes.cleanup();
  await shop.destroy();
  await db.dispose();
  await api.stop();
}

main().catch((error) => { console.error(error); process.exit(1); });
