import { DataSource, In } from 'typeorm';
import { ApiClient } from '../api-client';
import type { BurstWrite } from '../burst';
import { parsePostgresUrl } from '../database';
import type { DemoOrm, DemoShop, ShopWrites } from '../shop-port';
import { connect, createTables, lockForWrites } from './data-source';
import { OrderToApiSync } from './order-to-api-sync';
import { Customer, Order } from './shop';

/** The shop's writes as a TypeORM app makes them: repositories, save(), dataSource.transaction(). */
function writesOn(dataSource: DataSource): ShopWrites {
  const customers = dataSource.getRepository(Customer);
  const orders = dataSource.getRepository(Order);
  return {
    async createCustomer(data) {
      return (await customers.save(customers.create({ email: '', ...data }))).id;
    },
    async createCustomers(data) {
      return (await customers.save(data.map((c) => customers.create(c)))).map((c) => c.id);
    },
    async createOrders(customerIds) {
      return (await orders.save(customerIds.map((customerId) => orders.create({ customerId, status: 'purchased' })))).map((o) => o.id);
    },
    async updateOrder(id, fields) {
      const order = await orders.findOneByOrFail({ id });
      Object.assign(order, fields);
      await orders.save(order);
    },
    async updateCustomer(id, fields) {
      const customer = await customers.findOneByOrFail({ id });
      Object.assign(customer, fields);
      await customers.save(customer);
    },
    async runBurst(orderIds: number[], transactions: BurstWrite[][]) {
      // Loaded once and kept: the burst mutates these objects and save()s them, like a long-running script would.
      const loaded = await orders.find({ where: { id: In(orderIds) }, order: { id: 'ASC' } });
      const byId = new Map(loaded.map((o) => [o.id, o]));
      return runBurst(dataSource, orderIds.map((id) => byId.get(id)!), transactions);
    },
  };
}

/** Plays the burst the way application code would: save() per change, in transactions. Returns the writes made. */
export async function runBurst(dataSource: DataSource, orders: Order[], transactions: BurstWrite[][]): Promise<number> {
  let writes = 0;
  for (const transaction of transactions) {
    await dataSource.transaction(async (manager) => {
      await lockForWrites(manager);
      for (const write of transaction) {
        const order = orders[write.order];
        if (write.status) order.status = write.status;
        if (write.warehouseCode) order.warehouseCode = write.warehouseCode;
        await manager.save(order);
        writes += 1;
      }
    });
  }
  return writes;
}

class TypeOrmShop implements DemoShop {
  readonly writes: ShopWrites;

  constructor(readonly orm: DataSource) {
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
    const orders = await this.orm.getRepository(Order).find();
    return new Map(orders.map((o) => [o.id, JSON.stringify(machine.build(o))]));
  }

  close(): Promise<void> {
    return this.orm.destroy();
  }
}

export const typeOrm: DemoOrm = {
  connect: async (url) => new TypeOrmShop(await connect(url)),
  async admin(url) {
    const admin = await new DataSource({ type: 'postgres', url: parsePostgresUrl(url).url }).initialize();
    return { exec: async (sql) => { await admin.query(sql); }, close: () => admin.destroy() };
  },
};
