import { MikroORM } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/knex';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { ApiClient } from '../api-client';
import type { BurstWrite } from '../burst';
import { parsePostgresUrl } from '../database';
import type { DemoOrm, DemoShop, ShopWrites } from '../shop-port';
import { connect, createTables } from './orm';
import { OrderToApiSync } from './order-to-api-sync';
import { Customer, Order } from './shop';

/**
 * SQLite only: the first statement of a transaction takes the write lock, as BEGIN IMMEDIATE would (see
 * demo/typeorm/data-source.ts: the worker process commits payloads into the same file).
 */
async function lockForWrites(em: EntityManager): Promise<void> {
  if (em.getPlatform().constructor.name.toLowerCase().includes('sqlite')) await em.execute('UPDATE orders SET id = id WHERE 0 = 1');
}

/** The shop's writes as a MikroORM app makes them: a fork per request, flush(), em.transactional(). */
function writesOn(orm: MikroORM): ShopWrites {
  const fork = () => orm.em.fork() as EntityManager;
  return {
    async createCustomer(data) {
      const em = fork();
      const customer = em.create(Customer, data);
      await em.flush();
      return customer.id;
    },
    async createCustomers(data) {
      const em = fork();
      const customers = data.map((c) => em.create(Customer, c));
      await em.flush();
      return customers.map((c) => c.id);
    },
    async createOrders(customerIds) {
      const em = fork();
      const orders = customerIds.map((id) => em.create(Order, { customer: em.getReference(Customer, id) }));
      await em.flush();
      return orders.map((o) => o.id);
    },
    async updateOrder(id, fields) {
      const em = fork();
      em.assign(await em.findOneOrFail(Order, id), fields);
      await em.flush();
    },
    async updateCustomer(id, fields) {
      const em = fork();
      em.assign(await em.findOneOrFail(Customer, id), fields);
      await em.flush();
    },
    async runBurst(orderIds: number[], transactions: BurstWrite[][]) {
      let writes = 0;
      for (const transaction of transactions) {
        await fork().transactional(async (em) => {
          await lockForWrites(em);
          const orders = new Map((await em.find(Order, { id: { $in: orderIds } })).map((o) => [o.id, o]));
          for (const write of transaction) {
            const order = orders.get(orderIds[write.order])!;
            if (write.status) order.status = write.status;
            if (write.warehouseCode) order.warehouseCode = write.warehouseCode;
            await em.flush(); // one flush per save, as the TypeORM burst saves each write
            writes += 1;
          }
        });
      }
      return writes;
    },
  };
}

class MikroOrmShop implements DemoShop {
  readonly writes: ShopWrites;

  constructor(readonly orm: MikroORM) {
    this.writes = writesOn(orm);
  }

  machine(api: ApiClient): OrderToApiSync {
    return new OrderToApiSync(api);
  }

  createTables(): Promise<void> {
    return createTables(this.orm);
  }

  async currentPayloads(): Promise<Map<number, string>> {
    const machine = new OrderToApiSync(new ApiClient('http://127.0.0.1:9')); // only build() is called
    const orders = await this.orm.em.fork().find(Order, {});
    return new Map(orders.map((o) => [o.id, JSON.stringify(machine.build(o))]));
  }

  close(): Promise<void> {
    return this.orm.close(true);
  }
}

export const mikroOrm: DemoOrm = {
  connect: async (url) => new MikroOrmShop(await connect(url)),
  async admin(url) {
    const admin = await MikroORM.init({
      driver: PostgreSqlDriver, clientUrl: parsePostgresUrl(url).url, entities: [], discovery: { warnWhenNoEntities: false },
    });
    return { exec: async (sql) => { await admin.em.getConnection().execute(sql); }, close: () => admin.close(true) };
  },
};
