import 'reflect-metadata';
import { In } from 'typeorm';
import { ApiClient } from '../../demo/api-client';
import { OrderToApiSync } from '../../demo/typeorm/order-to-api-sync';
import { Order } from '../../demo/typeorm/shop';
import { CountingApi } from '../throughput/api';
import { connectShop, freshDatabase, seedShop } from '../throughput/database';
import { Prefixes, startSync } from '../throughput/runtime';

/*
 * node dist/bench/profile/unpublish.js postgres|sqlite [n]: n orders published, then n other orders changed
 * (published again) and n removed (unpublished), each worked off by a fresh worker: the unpublish rate beside the
 * changed rate of the same run. A trial's 1,000 unpublishes ran at 0.22x-0.5x its script's DELETE loop, where its
 * re-posts were even with its script's.
 */
async function main(): Promise<void> {
  const kind = (process.argv[2] ?? 'postgres') as 'postgres' | 'sqlite';
  const n = Number(process.argv[3] ?? 2000);
  const api = await new CountingApi().start();
  const prefixes = new Prefixes('redis://127.0.0.1:6379');
  const db = await freshDatabase(kind, 'postgres://postgres@127.0.0.1:5432/test');
  const shop = await connectShop(db);
  const ids = await seedShop(shop, 2 * n, 5);
  const machine = new OrderToApiSync(new ApiClient(api.url));
  const prefix = prefixes.fresh('profile');
  const sync = await startSync(shop, machine, 'redis://127.0.0.1:6379', prefix, 50);
  await sync.resync(OrderToApiSync);
  await sync.drain({ timeoutMs: 120_000 });
  await sync.close();
  const [changed, removed] = [ids.slice(0, n), ids.slice(n)];
  const workOff = async (label: string, write: () => Promise<void>) => {
    const capture = await startSync(shop, machine, 'redis://127.0.0.1:6379', prefix);
    await write();
    await capture.close();
    const calls = api.calls;
    const t = performance.now();
    const worker = await startSync(shop, machine, 'redis://127.0.0.1:6379', prefix, 50);
    await worker.drain({ timeoutMs: 120_000 });
    const ms = performance.now() - t;
    await worker.close();
    console.log(`${label}: ${n} in ${ms.toFixed(0)} ms, ${Math.round(n / (ms / 1000))}/s, calls ${api.calls - calls}`);
    return ms;
  };
  const changedMs = await workOff('changed', async () => {
    for (let i = 0; i < n; i += 500) {
      await shop.transaction(async (m) => {
        for (const o of await m.getRepository(Order).findBy({ id: In(changed.slice(i, i + 500)) })) { o.status = 'shipped'; await m.save(o); }
      });
    }
  });
  const removedMs = await workOff('removed', async () => {
    for (let i = 0; i < n; i += 500) {
      await shop.transaction(async (m) => { await m.getRepository(Order).remove(await m.getRepository(Order).findBy({ id: In(removed.slice(i, i + 500)) })); });
    }
  });
  console.log(`unpublish rate ÷ changed rate: ${(changedMs / removedMs).toFixed(2)}`);
  await shop.destroy();
  await db.dispose();
  await api.stop();
}

main().catch((error) => { console.error(error); process.exit(1); });
