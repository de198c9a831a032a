import 'reflect-metadata';
import { Column, DataSource, Entity, In, JoinColumn, ManyToOne, MoreThan, OneToMany, PrimaryGeneratedColumn } from 'typeorm';
import { Build, canonicalJson, digestOf, ListenTo, Publish, SubjectIdsFrom, SyncMachine, SyncMachines } from 'sync-machine';
import { SyncMachinePayload } from 'sync-machine/typeorm';
import { CountingApi } from '../throughput/api';
import { BenchDigest } from '../throughput/entities';
import { mapLimit, median } from '../throughput/measure';
import { profiled } from './cpu-profile';
import { Prefixes } from '../throughput/runtime';
import { freshDatabase } from '../throughput/database';
import { optionsFor } from '../../demo/typeorm/data-source';

/*
 * Trial N's shape: products with three variants each (one-to-many), the machine loading `relations: { variants: true }`,
 * a backfill (nothing stored yet) at concurrency 10 beside the hand-written loop a user would write for it.
 * node dist/bench/profile/one-to-many.js sqlite|postgres [products] [concurrency]
 */
@Entity('otm_products')
class Product {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'varchar' }) name!: string;
  @Column({ type: 'integer' }) priceCents!: number;
  @OneToMany(() => Variant, (v) => v.product) variants!: Variant[];
}

@Entity('otm_variants')
class Variant {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'integer' }) productId!: number;
  @ManyToOne(() => Product, (p) => p.variants) @JoinColumn({ name: 'productId' }) product!: Product;
  @Column({ type: 'varchar' }) sku!: string;
  @Column({ type: 'integer' }) stock!: number;
}

function payloadOf(p: Product): unknown {
  return {
    id: String(p.id), name: p.name, price: p.priceCents / 100,
    variants: [...p.variants].sort((a, b) => a.id - b.id).map((v) => ({ sku: v.sku, stock: v.stock })),
  };
}

async function post(url: string, id: number, body: unknown): Promise<void> {
  const res = await fetch(`${url}/orders/${id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`PUT ${id}: ${res.status}`);
  await res.arrayBuffer();
}

function machineFor(url: string): object {
  @SyncMachine({ subject: Product, relations: { variants: true } })
  @ListenTo(Product)
  @ListenTo(Variant)
  class ProductSync {
    @SubjectIdsFrom(Variant) productOf(v: Variant): number[] { return [v.productId]; }
    @Build() build(p: Product): unknown { return payloadOf(p); }
    @Publish() async publish(p: Product, payload: unknown): Promise<void> { await post(url, p.id, payload); }
  }
  return new ProductSync();
}

async function handLoop(ds: DataSource, url: string, name: string, concurrency: number): Promise<number> {
  const products = ds.getRepository(Product);
  const digests = ds.getRepository(BenchDigest);
  let after = 0;
  let posted = 0;
  for (;;) {
    const ids = (await products.find({ select: { id: true }, where: { id: MoreThan(after) }, order: { id: 'ASC' }, take: 500 })).map((r) => r.id);
    if (ids.length === 0) return posted;
    after = ids[ids.length - 1];
    const [rows, known] = await Promise.all([
      products.find({ where: { id: In(ids) }, relations: { variants: true } }),
      digests.findBy({ name, subjectId: In(ids.map(String)) }),
    ]);
    const byId = new Map(known.map((d) => [d.subjectId, d.digest]));
    const changed = rows.map((row) => ({ row, payload: payloadOf(row) }))
      .map((x) => ({ ...x, digest: digestOf(canonicalJson(x.payload)) }))
      .filter((x) => byId.get(String(x.row.id)) !== x.digest);
    // LOOP_BATCH=1: the page's digests remembered in one upsert after its posts, instead of one per post.
    const remembered: Array<{ name: string; subjectId: string; digest: string }> = [];
    await mapLimit(changed, concurrency, async ({ row, payload, digest }) => {
      await post(url, row.id, payload);
      if (process.env.LOOP_BATCH === '1') remembered.push({ name, subjectId: String(row.id), digest });
      else await digests.upsert({ name, subjectId: String(row.id), digest }, ['name', 'subjectId']);
    });
    for (let i = 0; i < remembered.length; i += 100) await digests.upsert(remembered.slice(i, i + 100), ['name', 'subjectId']);
    posted += changed.length;
  }
}

/**
 * MODE=unchanged: both have sent everything once; then rounds of the loop (posts nothing) and of the machine's
 * resync (publishes nothing), alternating, each timed; PROFILE=<file>: a CPU profile of the machine's rounds.
 */
async function unchanged(ds: DataSource, api: CountingApi, prefixes: Prefixes, kind: string, n: number, concurrency: number, rounds: number): Promise<void> {
  await handLoop(ds, api.url, 'unchanged', concurrency);
  const sync = await SyncMachines.start({ orm: ds, redis: 'redis://127.0.0.1:6379', prefix: prefixes.fresh('otm'), machines: [machineFor(api.url)], worker: { concurrency } });
  await sync.resync('ProductSync');
  await sync.drain({ timeoutMs: 600_000 });
  const calls = api.calls;
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    let t = performance.now();
    const posted = await handLoop(ds, api.url, 'unchanged', concurrency);
    const loop = performance.now() - t;
    t = performance.now();
    await profiled(round === rounds - 1 ? process.env.PROFILE : undefined, async () => {
      await sync.resync('ProductSync');
      await sync.drain({ timeoutMs: 600_000 });
    });
    const machine = performance.now() - t;
    ratios.push(loop / machine);
    console.log(`${kind} ${n} products unchanged c=${concurrency}: loop ${loop.toFixed(0)} ms (posted ${posted}), sync-machine ${machine.toFixed(0)} ms → ${(loop / machine).toFixed(2)}×`);
  }
  if (api.calls !== calls) throw new Error(`unchanged: ${api.calls - calls} calls where none was due`);
  console.log(`median ${median(ratios).toFixed(2)}× of ${rounds}`);
  await sync.close();
}

async function main(): Promise<void> {
  const kind = (process.argv[2] ?? 'sqlite') as 'postgres' | 'sqlite';
  const n = Number(process.argv[3] ?? 20_000);
  const concurrency = Number(process.argv[4] ?? 10);
  const api = await new CountingApi().start();
  const prefixes = new Prefixes('redis://127.0.0.1:6379');
  const db = await freshDatabase(kind, 'postgres://postgres@127.0.0.1:5432/test');
  const ds = await new DataSource({ ...optionsFor(db.url), entities: [Product, Variant, SyncMachinePayload, BenchDigest], synchronize: true } as never).initialize();
  for (let i = 0; i < n; i += 500) {
    const made = await ds.getRepository(Product).insert(Array.from({ length: Math.min(500, n - i) }, (_, j) => ({ name: `P${i + j}`, priceCents: 100 + j })));
    const variants = made.identifiers.flatMap((x) => [1, 2, 3].map((k) => ({ productId: Number(x.id), sku: `S${x.id}-${k}`, stock: k })));
    await ds.getRepository(Variant).insert(variants);
  }
  let rounds = Number(process.env.ROUNDS ?? 2);
  if (process.env.MODE === 'unchanged') {
    await unchanged(ds, api, prefixes, kind, n, concurrency, rounds);
    rounds = 0;
  }
  for (let round = 0; round < rounds; round++) {
    let t = Date.now();
    const posted = await handLoop(ds, api.url, `loop${round}`, concurrency);
    const loop = Date.now() - t;
    const sync = await SyncMachines.start({ orm: ds, redis: 'redis://127.0.0.1:6379', prefix: prefixes.fresh('otm'), machines: [machineFor(api.url)], worker: { concurrency } });
    t = Date.now();
    if (process.env.MODE === 'migrate') {
      // A migration with the worker running: every product's price changes, 500 a transaction (captured).
      for (let i = 1; i <= n; i += 500) {
        await ds.transaction(async (m) => {
          for (const p of await m.getRepository(Product).findBy({ id: In(Array.from({ length: 500 }, (_, j) => i + j)) })) {
            p.priceCents += 1;
            await m.save(p);
          }
        });
      }
      console.log(`  migration ${Date.now() - t} ms`);
    } else {
      await sync.resync('ProductSync');
    }
    await sync.drain({ timeoutMs: 600_000 });
    const machine = Date.now() - t;
    await sync.close();
    console.log(`${kind} ${n} products c=${concurrency}: loop ${loop} ms (${Math.round(n / loop * 1000)}/s, posted ${posted}), sync-machine ${machine} ms (${Math.round(n / machine * 1000)}/s) → ${(loop / machine).toFixed(2)}×`);
    await ds.getRepository(SyncMachinePayload).clear();
  }
  await ds.destroy();
  await db.dispose();
  await prefixes.cleanup();
  await api.stop();
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
