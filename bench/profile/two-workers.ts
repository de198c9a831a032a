import 'reflect-metadata';
import { Build, ListenTo, Publish, SyncMachine, SyncMachines } from 'sync-machine';
import { connectLean, connectShop, freshDatabase, seedShop } from '../throughput/database';
import { LeanOrder } from '../throughput/entities';
import { sleep } from '../throughput/measure';
import { Prefixes, startSync } from '../throughput/runtime';

/*
 * node dist/bench/profile/two-workers.js [orders] [partner ms] [concurrency] [workers] [batchSize]: how a first
 * publish of `orders` spreads over `workers` worker runtimes (one process, one PostgreSQL schema, one prefix) when
 * each call to the partner takes `partner ms`. Prints the time to drain, the time the calls would take spread evenly
 * (orders × ms ÷ concurrency ÷ workers) and the calls each worker made; then the time of a resync that finds nothing
 * changed (what a smaller batchSize costs where no call is made). A worker's runs each take up to batchSize
 * subjects at once (ceil(concurrency ÷ batchSize) + 3 runs per step), and hand back what waits behind more than a
 * second of their publishes (publish-gate.ts): see the README's "Several workers".
 */
const [orders, partnerMs, concurrency, workers] = [2, 3, 4, 5].map((i, n) => Number(process.argv[i] ?? [600, 50, 10, 2][n]));
const batchSize = process.argv[6] === undefined ? undefined : Number(process.argv[6]);

/** Where each worker's calls are counted; a call takes partnerMs. */
class SlowPartner {
  constructor(private readonly worker: string, private readonly calls: Map<string, number>) {}

  async put(): Promise<void> {
    this.calls.set(this.worker, (this.calls.get(this.worker) ?? 0) + 1);
    await sleep(partnerMs);
  }
}

@SyncMachine({ subject: LeanOrder, name: 'TwoWorkersSync', ...(batchSize === undefined ? {} : { batchSize }) })
@ListenTo(LeanOrder)
class TwoWorkersSync {
  constructor(private readonly partner: SlowPartner) {}

  @Build()
  build(order: LeanOrder) {
    return { id: String(order.id), status: order.status };
  }

  @Publish()
  async publish(): Promise<void> {
    await this.partner.put();
  }
}

async function main(): Promise<void> {
  for (const [name, value] of Object.entries({ orders, partnerMs, concurrency, workers })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`two-workers: ${name} must be a whole number above 0, not ${value}`);
  }
  const prefixes = new Prefixes('redis://127.0.0.1:6379');
  const db = await freshDatabase('postgres', 'postgres://postgres@127.0.0.1:5432/test');
  const shop = await connectShop(db);
  const calls = new Map<string, number>();
  const syncs: SyncMachines[] = [];
  const sources = [];
  try {
    await seedShop(shop, orders, 5);
    const prefix = prefixes.fresh('two-workers');
    for (let w = 0; w < workers; w++) {
      const lean = await connectLean(db);
      sources.push(lean);
      syncs.push(await startSync(lean, new TwoWorkersSync(new SlowPartner(`worker ${w + 1}`, calls)), 'redis://127.0.0.1:6379', prefix, concurrency));
    }
    const started = performance.now();
    await syncs[0].resync(TwoWorkersSync);
    const { outcomes } = await syncs[0].drain({ timeoutMs: 60_000 + orders * partnerMs });
    const ms = performance.now() - started;
    const even = (orders * partnerMs) / concurrency / workers;
    const handedBack = (await syncs[0].status({ machines: [TwoWorkersSync] }))[0].outcomes['ensure-publication:handed_back'] ?? 0;
    console.log(`${orders} subjects, partner ${partnerMs} ms a call, concurrency ${concurrency}, batchSize ${batchSize ?? 'default'}, ` +
      `${workers} worker(s): ${ms.toFixed(0)} ms (spread evenly: ${even.toFixed(0)} ms); calls ` +
      `${[...calls].sort().map(([w, n]) => `${w} ${n}`).join(', ')}; handed back ${handedBack}; outcomes ${JSON.stringify(outcomes)}`);
    if (outcomes.published !== orders) throw new Error(`two-workers: ${outcomes.published ?? 0} of ${orders} published`);
    const again = performance.now();
    await syncs[0].resync(TwoWorkersSync);
    const unchanged = await syncs[0].drain({ timeoutMs: 60_000 + orders * partnerMs });
    console.log(`  then a resync with nothing changed: ${(performance.now() - again).toFixed(0)} ms; outcomes ${JSON.stringify(unchanged.outcomes)}`);
    if (unchanged.outcomes.unchanged !== orders) throw new Error(`two-workers: ${unchanged.outcomes.unchanged ?? 0} of ${orders} unchanged`);
  } finally {
    for (const sync of syncs) await sync.close();
    for (const source of sources) await source.destroy();
    await shop.destroy();
    await db.dispose();
    await prefixes.cleanup();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
