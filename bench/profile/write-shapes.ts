import 'reflect-metadata';
import { MikroORM } from '@mikro-orm/core';
import { Column, DataSource, Entity, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { Build, ListenTo, Publish, SubjectIdsFrom, SyncMachine } from 'sync-machine';
import { SyncMachinePayload } from 'sync-machine/typeorm';
import { optionsFor } from '../../demo/typeorm/data-source';
import { ApiClient } from '../../demo/api-client';
import { connect as connectMikroOrm, createTables as createMikroOrmTables } from '../../demo/mikro-orm/orm';
import { OrderToApiSync as MikroOrderToApiSync } from '../../demo/mikro-orm/order-to-api-sync';
import { Customer as MikroCustomer, Order as MikroOrder } from '../../demo/mikro-orm/shop';
import { OrderToApiSync } from '../../demo/typeorm/order-to-api-sync';
import { Customer, Order } from '../../demo/typeorm/shop';
import { connectShop, freshDatabase, seedShop } from '../throughput/database';
import { median, now, sleep } from '../throughput/measure';
import { Prefixes, startSync } from '../throughput/runtime';

/*
 * node dist/bench/profile/write-shapes.js postgres|sqlite [rounds]: capture overhead (captured ÷ plain, medians of
 * alternating rounds, each with a runtime started and, for plain, closed before the write) of the write shapes the
 * bench's capture row does not take: TypeORM insert() of many rows outside a transaction, save() of an array, and
 * MikroORM flushes that create or remove many rows. 1,000 rows, 500 for TypeORM on SQLite, where TypeORM's own
 * reload of the inserted rows fails beyond that ("Expression tree is too large").
 */
/** A review names its product only through the relation (no foreign-key property), as many TypeORM entities do. */
@Entity('shape_products')
class Product {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
}

@Entity('shape_reviews')
class Review {
  @PrimaryGeneratedColumn() id!: number;
  @Column() stars!: number;
  @ManyToOne(() => Product) product!: Product;
}

@SyncMachine({ subject: Product })
@ListenTo(Review)
class ProductSync {
  @SubjectIdsFrom(Review)
  productOf(review: Review) { return review.product?.id; }

  @Build()
  build(product: Product) { return { name: product.name }; }

  @Publish()
  async publish() { /* captures only: never runs */ }
}

type Shape = { name: string; prepare(): Promise<unknown>; write(prepared: unknown): Promise<unknown> };

async function overhead(prefixes: Prefixes, orm: unknown, machine: object, shape: Shape, rounds: number): Promise<void> {
  const plain: number[] = [];
  const captured: number[] = [];
  for (let round = 0; round < rounds + 1; round++) {
    for (const capturing of round % 2 ? [true, false] : [false, true]) {
      const sync = await startSync(orm, machine, 'redis://127.0.0.1:6379', prefixes.fresh('shapes'));
      try {
        if (!capturing) await sync.close();
        const prepared = await shape.prepare();
        await sleep(50);
        const started = now();
        await shape.write(prepared);
        if (round > 0) (capturing ? captured : plain).push(now() - started); // round 0 warms up
      } finally {
        await sync.close();
      }
    }
  }
  const [p, c] = [median(plain), median(captured)];
  console.log(`${shape.name.padEnd(44)} plain ${p.toFixed(1).padStart(6)} ms  captured ${c.toFixed(1).padStart(6)} ms  ${(c / p).toFixed(3)}x`);
}

function typeOrmShapes(shop: DataSource, customers: Customer[], rows: number, postgres: boolean): Shape[] {
  const orders = shop.getRepository(Order);
  const made = () => Array.from({ length: rows }, (_, i) => orders.create({ customer: customers[i % customers.length], status: 'purchased', warehouseCode: 'W1' }));
  const shapes: Shape[] = [
    {
      name: `TypeORM insert() of ${rows} rows, no transaction`, prepare: async () => undefined,
      write: () => orders.insert(Array.from({ length: rows }, (_, i) => ({ customerId: customers[i % customers.length].id, status: 'purchased' as const, warehouseCode: 'W1' }))),
    },
    { name: `TypeORM save() of an array of ${rows} new rows`, prepare: async () => made(), write: (rowsToSave) => orders.save(rowsToSave as Order[]) },
  ];
  // TypeORM's remove() of many rows reloads them with one OR term each: SQLite refuses it past 1,000 terms.
  if (postgres) shapes.push({ name: `TypeORM remove() of an array of ${rows} rows`, prepare: () => orders.save(made()), write: (saved) => orders.remove(saved as Order[]) });
  return shapes;
}

/** remove() of reviews loaded without their relations: their product keys are read before the DELETE. */
function reviewShapes(reviews: DataSource, products: Product[], rows: number): Shape[] {
  const repo = reviews.getRepository(Review);
  return [{
    name: `TypeORM remove() of ${rows} rows loaded bare (4 calls)`,
    prepare: async () => {
      const made = [];
      for (let i = 0; i < rows; i += 250) made.push(...await repo.save(Array.from({ length: 250 }, (_, j) => ({ stars: 3, product: products[(i + j) % products.length] }))));
      return repo.createQueryBuilder('r').whereInIds(made.map((r) => r.id)).getMany();
    },
    write: async (loaded) => {
      const all = loaded as Review[];
      for (let i = 0; i < all.length; i += 250) await repo.remove(all.slice(i, i + 250));
    },
  }];
}

function mikroOrmShapes(orm: MikroORM, customerIds: number[], rows: number): Shape[] {
  const create = (em: ReturnType<MikroORM['em']['fork']>) =>
    Array.from({ length: rows }, (_, i) => em.create(MikroOrder, { customer: em.getReference(MikroCustomer, customerIds[i % customerIds.length]) }));
  return [
    { name: `MikroORM flush creating ${rows} rows`, prepare: async () => { const em = orm.em.fork(); create(em); return em; }, write: (em) => (em as typeof orm.em).flush() },
    {
      // Customer is listened to through a mapper: each change is a FindSubjects request with its op and keys.
      name: `MikroORM flush renaming ${customerIds.length} customers`,
      prepare: async () => {
        const em = orm.em.fork();
        for (const customer of await em.find(MikroCustomer, { id: { $in: customerIds } })) customer.lastName = `${customer.lastName}'`;
        return em;
      },
      write: (em) => (em as typeof orm.em).flush(),
    },
    {
      name: `MikroORM flush removing ${rows} rows`,
      prepare: async () => {
        const seeding = orm.em.fork();
        const made = create(seeding);
        await seeding.flush();
        const ids = made.map((order) => order.id);
        const em = orm.em.fork();
        for (const order of await em.find(MikroOrder, { id: { $in: ids } })) em.remove(order);
        return em;
      },
      write: (em) => (em as typeof orm.em).flush(),
    },
  ];
}

async function main(): Promise<void> {
  const kind = (process.argv[2] ?? 'postgres') as 'postgres' | 'sqlite';
  const rounds = Number(process.argv[3] ?? 15);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`write-shapes: rounds must be a whole number above 0, not ${process.argv[3]}`);
  const prefixes = new Prefixes('redis://127.0.0.1:6379');
  try {
    const db = await freshDatabase(kind, 'postgres://postgres@127.0.0.1:5432/test');
    const shop = await connectShop(db);
    try {
      await seedShop(shop, 1000, 5);
      const customers = await shop.getRepository(Customer).find({ take: 200 });
      const machine = new OrderToApiSync(new ApiClient('http://127.0.0.1:9')); // captures only: never publishes
      for (const shape of typeOrmShapes(shop, customers, kind === 'sqlite' ? 500 : 1000, kind === 'postgres')) {
        await overhead(prefixes, shop, machine, shape, rounds);
      }
    } finally {
      await shop.destroy();
      await db.dispose();
    }
    const reviewDb = await freshDatabase(kind, 'postgres://postgres@127.0.0.1:5432/test');
    const base = optionsFor(reviewDb.url);
    const reviews = await new DataSource({ ...base, entities: [Product, Review, SyncMachinePayload], synchronize: true } as typeof base).initialize();
    try {
      await reviews.runMigrations();
      const products = await reviews.getRepository(Product).save(Array.from({ length: 100 }, (_, i) => ({ name: `P${i}` })));
      for (const shape of reviewShapes(reviews, products, 1000)) await overhead(prefixes, reviews, new ProductSync(), shape, rounds);
    } finally {
      await reviews.destroy();
      await reviewDb.dispose();
    }
    const mikroDb = await freshDatabase(kind, 'postgres://postgres@127.0.0.1:5432/test');
    const orm = await connectMikroOrm(mikroDb.url);
    try {
      await createMikroOrmTables(orm);
      const seeding = orm.em.fork();
      const customers = Array.from({ length: 1000 }, (_, i) => seeding.create(MikroCustomer, { firstName: `F${i}`, lastName: `L${i}` }));
      await seeding.flush();
      const machine = new MikroOrderToApiSync(new ApiClient('http://127.0.0.1:9'));
      for (const shape of mikroOrmShapes(orm, customers.map((c) => c.id), 1000)) await overhead(prefixes, orm, machine, shape, rounds);
    } finally {
      await orm.close();
      await mikroDb.dispose();
    }
  } finally {
    await prefixes.cleanup();
  }
}

main().then(() => process.exit(0), (e) => { console.error(e instanceof Error ? e.message.slice(0, 500) : e); process.exit(1); });
