import Redis from 'ioredis';
import { In } from 'typeorm';
import { ApiClient } from '../../../demo/api-client';
import { connect as connectMikroOrm, createTables as createMikroOrmTables } from '../../../demo/mikro-orm/orm';
import { OrderToApiSync as MikroOrderToApiSync } from '../../../demo/mikro-orm/order-to-api-sync';
import { Customer as MikroCustomer, Order as MikroOrder } from '../../../demo/mikro-orm/shop';
import { OrderToApiSync } from '../../../demo/typeorm/order-to-api-sync';
import { Order } from '../../../demo/typeorm/shop';
import { consoleLogger } from '../../../lib/logger';
import type { EntityClass } from '../../../lib/ports';
import { pickAdapter } from '../../../lib/runtime/pick-adapter';
import type { BenchConfig, DatabaseKind } from '../config';
import { connectShop, freshDatabase, seedShop } from '../database';
import { median, now, sleep } from '../measure';
import { Prefixes, startSync } from '../runtime';

export interface CaptureCost {
  /** Median of the rounds of each kind. */
  plainMs: number;
  capturedMs: number;
  /** Median over the pairs of adjacent rounds of captured ÷ plain: the figure the goal is checked against. */
  ratio: number;
  /**
   * The same for a round whose only subscriber awaits one Redis PING per commit: the least that SPEC §2.1 allows
   * (the write call resolves once its changes are in Redis, so one round trip after the commit is always paid).
   * Not a goal: it says how much of `ratio` that round trip is, on this machine, in this run.
   */
  floorRatio: number;
}

/**
 * One transaction saving `rows` loaded orders (status flipped), with no runtime vs. with a capture-only runtime
 * started (its subscriber collects, then enqueues after commit; the write call resolves once the changes are in
 * Redis), and with only a subscriber that awaits one PING (the floor, see CaptureCost.floorRatio). Alternating,
 * each round in a fresh prefix so every captured round enqueues new jobs rather than coalescing into the last
 * round's. The ratio is the median over pairs of adjacent rounds, which cancels the
 * machine's slow drifts: in five runs of 31 pairs on SQLite it spread 1.043-1.052, where the ratio of the two
 * medians spread 1.037-1.064 over the same rounds.
 */
export async function measureCaptureCost(config: BenchConfig, kind: DatabaseKind, prefixes: Prefixes): Promise<CaptureCost> {
  const db = await freshDatabase(kind, config.postgresUrl);
  const shop = await connectShop(db);
  try {
    const ids = await seedShop(shop, config.captureRows, config.ordersPerCustomer);
    const orders = await shop.getRepository(Order).findBy({ id: In(ids) });
    const machine = new OrderToApiSync(new ApiClient('http://127.0.0.1:9')); // captures only: never publishes
    let flip = 0;
    const transaction = async () => {
      flip += 1;
      const started = now();
      await shop.transaction(async (manager) => {
        for (const order of orders) {
          order.status = flip % 2 === 0 ? 'purchased' : 'shipped';
          await manager.save(order);
        }
      });
      return now() - started;
    };
    return await pairedRounds(config, config.captureRounds, prefixes, shop, Order, machine, transaction);
  } finally {
    await shop.destroy();
    await db.dispose();
  }
}

/**
 * The same on MikroORM, with the demo's MikroORM entities: one `em.transactional()` flushing `rows` loaded orders
 * (status flipped). MikroORM flushes them in one batched statement per kind, several times faster than TypeORM's
 * save() per row, so the same milliseconds capture adds weigh more.
 */
export async function measureMikroOrmCaptureCost(config: BenchConfig, kind: DatabaseKind, prefixes: Prefixes): Promise<CaptureCost> {
  const db = await freshDatabase(kind, config.postgresUrl);
  const orm = await connectMikroOrm(db.url);
  try {
    await createMikroOrmTables(orm);
    const seeding = orm.em.fork();
    const customers = Array.from({ length: Math.ceil(config.captureRows / config.ordersPerCustomer) }, (_, i) =>
      seeding.create(MikroCustomer, { firstName: `First${i}`, lastName: `Last${i}` }));
    const seeded = Array.from({ length: config.captureRows }, (_, i) =>
      seeding.create(MikroOrder, { customer: customers[i % customers.length] }));
    await seeding.flush();
    const ids = seeded.map((order) => order.id);
    const machine = new MikroOrderToApiSync(new ApiClient('http://127.0.0.1:9'));
    let flip = 0;
    const transaction = async () => {
      flip += 1;
      const em = orm.em.fork();
      const orders = await em.find(MikroOrder, { id: { $in: ids } });
      const started = now();
      await em.transactional(async () => {
        for (const order of orders) order.status = flip % 2 === 0 ? 'purchased' : 'shipped';
      });
      return now() - started;
    };
    return await pairedRounds(config, config.mikroOrmCaptureRounds, prefixes, orm, MikroOrder, machine, transaction);
  } finally {
    await orm.close();
    await db.dispose();
  }
}

/**
 * `count` rounds each of plain, captured and floor (see CaptureCost.floorRatio), the captured one between the other
 * two and their order flipped each time (see measureCaptureCost); the ORM is the runtime's `orm`, whose `watched`
 * entity the floor's subscriber listens to.
 */
async function pairedRounds(
  config: BenchConfig, count: number, prefixes: Prefixes, orm: unknown, watched: EntityClass, machine: object,
  transaction: () => Promise<number>,
): Promise<CaptureCost> {
  // Every kind of round starts and closes a runtime, so connection set-up, teardown and the garbage they leave
  // fall on all alike; only the captured round keeps it running through its transaction.
  const round = async (kind: 'plain' | 'captured' | 'floor') => {
    const sync = await startSync(orm, machine, config.redisUrl, prefixes.fresh('capture'));
    let unsubscribe = () => {};
    try {
      if (kind !== 'captured') await sync.close();
      if (kind === 'floor') {
        // The ORM adapter's own subscriber, through the port the runtime uses, with a listener that only pings.
        unsubscribe = pickAdapter(orm, consoleLogger).onCommitted(new Set([watched]), async () => {
          await floorRedis.ping();
        });
      }
      await sleep(100);
      return await transaction();
    } finally {
      unsubscribe();
      await sync.close();
    }
  };
  const floorRedis = new Redis(config.redisUrl);
  try {
    await floorRedis.ping();
    await round('plain'); // warm-up
    await round('captured');
    await round('floor');
    const ms = { plain: [] as number[], captured: [] as number[], floor: [] as number[] };
    for (let i = 0; i < count; i++) {
      const order = i % 2 === 0 ? ['plain', 'captured', 'floor'] as const : ['floor', 'captured', 'plain'] as const;
      for (const kind of order) ms[kind].push(await round(kind));
    }
    return {
      plainMs: median(ms.plain), capturedMs: median(ms.captured),
      ratio: median(ms.plain.map((plain, i) => ms.captured[i] / plain)),
      floorRatio: median(ms.plain.map((plain, i) => ms.floor[i] / plain)),
    };
  } finally {
    await floorRedis.quit();
  }
}
