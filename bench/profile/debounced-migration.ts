import 'reflect-metadata';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { In } from 'typeorm';
import { SyncMachine, SyncMachines } from 'sync-machine';
import { ApiClient } from '../../demo/api-client';
import { OrderToApiSync } from '../../demo/typeorm/order-to-api-sync';
import { Customer, Order } from '../../demo/typeorm/shop';
import type { DatabaseKind } from '../throughput/config';
import { connectShop, freshDatabase, seedShop } from '../throughput/database';
import { outcomesOf, Prefixes } from '../throughput/runtime';

/*
 * node dist/bench/profile/debounced-migration.js [orders] [debounceMs] [sqlite|postgres]: a migration that changes each
 * order in two commits, its own row and then its customer's (one customer per order), in chunks of 200, with a
 * worker running and the machine's debounce set. Prints the runs that published and those that found the order
 * unchanged, the partner's calls, and the documents that end stale against the database. Each order's own change
 * makes it ready first, and its run loads the customer's change too: the customer's row, mapped to it a debounce
 * after its own change, ran it again for nothing (a trial: 2,000 published, 4,000 unchanged, debounceMs 20000).
 */
const orders = Number(process.argv[2] ?? 2000);
const debounceMs = Number(process.argv[3] ?? 3000);
const kind = (process.argv[4] ?? 'postgres') as DatabaseKind;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CHUNK = 200;

@SyncMachine({ subject: Order, name: 'OrderToApiSync', debounceMs })
class DebouncedOrderSync extends OrderToApiSync {}

async function partner() {
  const documents = new Map<string, string>();
  let calls = 0;
  const server = createServer((req, res) => {
    calls += 1;
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const id = decodeURIComponent(req.url!.split('/').pop()!);
      if (req.method === 'PUT') documents.set(id, body);
      else documents.delete(id);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, documents, calls: () => calls, close: () => server.close() };
}

async function main(): Promise<void> {
  const db = await freshDatabase(kind, POSTGRES_URL);
  const prefixes = new Prefixes(REDIS_URL);
  const api = await partner();
  const dataSource = await connectShop(db);
  let sync: SyncMachines | undefined;
  try {
    const ids = await seedShop(dataSource, orders, 1);
    const machine = new DebouncedOrderSync(new ApiClient(api.url));
    sync = await SyncMachines.start({
      orm: dataSource, redis: REDIS_URL, prefix: prefixes.fresh('debounced'), machines: [machine], worker: { concurrency: 20 },
    });
    await sync.resync(machine);
    await sync.drain({ timeoutMs: 120_000 });
    const before = await outcomesOf(sync);
    const callsBefore = api.calls();
    const started = Date.now();
    for (let i = 0; i < ids.length; i += CHUNK) {
      const chunk = ids.slice(i, i + CHUNK);
      await dataSource.transaction(async (em) => {
        for (const order of await em.findBy(Order, { id: In(chunk) })) {
          order.status = 'shipped';
          await em.save(order);
        }
      });
      await dataSource.transaction(async (em) => {
        for (const order of await em.findBy(Order, { id: In(chunk) })) {
          const customer = await em.findOneByOrFail(Customer, { id: order.customerId });
          customer.firstName = `Moved${customer.id}`;
          await em.save(customer);
        }
      });
    }
    const migrated = Date.now() - started;
    await sync.drain({ timeoutMs: 300_000 });
    const after = await outcomesOf(sync);
    const delta = (key: string) => (after[key] ?? 0) - (before[key] ?? 0);
    let stale = 0;
    for (let i = 0; i < ids.length; i += 500) { // SQLite refuses an expression tree over 1,000 deep (the eager join's RelationId)
      for (const order of await dataSource.getRepository(Order).findBy({ id: In(ids.slice(i, i + 500)) })) {
        if (api.documents.get(String(order.id)) !== JSON.stringify(machine.build(order))) stale += 1;
      }
    }
    console.log(`${kind}, ${orders} orders, debounceMs ${debounceMs}, migration ${(migrated / 1000).toFixed(1)} s: ` +
      `published ${delta('ensure-publication:published')}, unchanged ${delta('ensure-publication:unchanged')}, ` +
      `rescheduled ${delta('ensure-publication:rescheduled')}, calls ${api.calls() - callsBefore}, stale ${stale}`);
  } finally {
    await sync?.close();
    await dataSource.destroy();
    api.close();
    await prefixes.cleanup();
    await db.dispose();
  }
}

main().catch((error) => { console.error(error); process.exitCode = 1; });
