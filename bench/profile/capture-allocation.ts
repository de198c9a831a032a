import 'reflect-metadata';
import { getHeapStatistics } from 'node:v8';
import { ApiClient } from '../../demo/api-client';
import { connect, createTables } from '../../demo/mikro-orm/orm';
import { OrderToApiSync } from '../../demo/mikro-orm/order-to-api-sync';
import { Customer, Order } from '../../demo/mikro-orm/shop';
import { freshDatabase } from '../throughput/database';
import { median, sleep } from '../throughput/measure';
import { Prefixes, startSync } from '../throughput/runtime';

/*
 * node --expose-gc --max-semi-space-size=256 --min-semi-space-size=256 dist/bench/profile/capture-allocation.js
 *   postgres|sqlite [rounds]
 * What a captured 1,000-row MikroORM transaction allocates beyond a plain one, in bytes: deterministic where its
 * time is not (the bench's capture rows swing by more than the goal's margin between runs). With a young generation
 * this large no scavenge falls inside a transaction, so the heap's growth across it is what it allocated. Plain
 * rounds, then rounds with a capture-only runtime started (it stays up: a web process's steady state); each kind's
 * median is printed, and their difference per changed row.
 */
async function main(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('capture-allocation.js: run it with node --expose-gc --max-semi-space-size=256 --min-semi-space-size=256');
  const kind = (process.argv[2] ?? 'postgres') as 'postgres' | 'sqlite';
  const rounds = Number(process.argv[3] ?? 21);
  const rows = 1000;
  const db = await freshDatabase(kind, process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  const orm = await connect(db.url);
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefixes = new Prefixes(redisUrl);
  try {
    await createTables(orm);
    const seeding = orm.em.fork();
    const customers = Array.from({ length: rows / 5 }, (_, i) => seeding.create(Customer, { firstName: `F${i}`, lastName: `L${i}` }));
    const orders = Array.from({ length: rows }, (_, i) => seeding.create(Order, { customer: customers[i % customers.length] }));
    await seeding.flush();
    const ids = orders.map((o) => o.id);
    let flip = 0;
    const allocated = async (): Promise<number> => {
      flip += 1;
      const em = orm.em.fork();
      const loaded = await em.find(Order, { id: { $in: ids } });
      gc();
      await sleep(20);
      const before = getHeapStatistics().used_heap_size;
      await em.transactional(async () => {
        for (const order of loaded) order.status = flip % 2 === 0 ? 'purchased' : 'shipped';
      });
      return getHeapStatistics().used_heap_size - before;
    };
    const machine = new OrderToApiSync(new ApiClient('http://127.0.0.1:9')); // captures only: never publishes
    const plain: number[] = [];
    const captured: number[] = [];
    await allocated(); // warm-up: JIT
    for (let i = 0; i < rounds; i++) plain.push(await allocated());
    // The runtime stays up through its rounds, as in a web process; bytes do not drift as times do, so the two
    // kinds need not alternate.
    const sync = await startSync(orm, machine, redisUrl, prefixes.fresh('alloc'));
    try {
      await allocated(); // warm-up: the subscriber's code, the mark script's first call
      for (let i = 0; i < rounds; i++) captured.push(await allocated());
    } finally {
      await sync.close();
    }
    const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
    const extra = median(captured) - median(plain);
    console.log(`${kind}, MikroORM, ${rows}-row transaction, ${rounds} rounds each: plain ${kb(median(plain))}, ` +
      `captured ${kb(median(captured))}; capture allocates ${kb(extra)} (${(extra / rows).toFixed(0)} bytes a row)`);
  } finally {
    await prefixes.cleanup();
    await orm.close();
    await db.dispose();
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
