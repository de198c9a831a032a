import type { DataSource } from 'typeorm';
import { DatabaseKind, TestDatabase } from '../database';
import { defineOrderSync } from '../order-sync';
import { Customer, Order } from '../shop';
import type { CustomerFields, OrderFields, Shop, ShopOrder, ShopWorld, WorldSpec } from './world';

export const typeOrmShop: Shop = { Customer, Order, OrderToApiSync: defineOrderSync(Customer, Order) };

/** The shop on TypeORM: repository save()/remove() and dataSource.transaction(), as an app writes. */
export class TypeOrmWorld implements ShopWorld {
  readonly orm = 'TypeORM';
  readonly shop = typeOrmShop;

  private constructor(readonly kind: DatabaseKind, readonly db: TestDatabase, readonly dataSource: DataSource) {}

  static async create(kind: DatabaseKind): Promise<TypeOrmWorld> {
    const db = await TestDatabase.create(kind);
    return new TypeOrmWorld(kind, db, await db.connect());
  }

  get handle(): DataSource {
    return this.dataSource;
  }

  connect(): Promise<DataSource> {
    return this.db.connect();
  }

  createCustomer(firstName: string, lastName: string): Promise<Customer> {
    return this.dataSource.getRepository(Customer).save({ firstName, lastName });
  }

  async createOrder(customer: { id: number }, fields: OrderFields = {}): Promise<Order> {
    return this.dataSource.getRepository(Order).save({ customerId: customer.id, status: 'purchased', ...fields });
  }

  async updateOrder(id: number, fields: OrderFields): Promise<Order> {
    const repo = this.dataSource.getRepository(Order);
    const fresh = await repo.findOneByOrFail({ id });
    Object.assign(fresh, fields);
    return repo.save(fresh);
  }

  async updateCustomer(id: number, fields: CustomerFields): Promise<void> {
    const repo = this.dataSource.getRepository(Customer);
    await repo.save(Object.assign(await repo.findOneByOrFail({ id }), fields));
  }

  async removeOrder(id: number): Promise<void> {
    const repo = this.dataSource.getRepository(Order);
    await repo.remove(await repo.findOneByOrFail({ id }));
  }

  findOrder(id: number): Promise<ShopOrder> {
    return this.dataSource.getRepository(Order).findOneByOrFail({ id });
  }

  async transaction(work: Parameters<ShopWorld['transaction']>[0]): Promise<void> {
    await this.dataSource.transaction((manager) => work({
      updateOrder: async (id, fields) => { await manager.getRepository(Order).save({ id, ...fields }); },
    }));
  }

  sql(query: string): Promise<Array<Record<string, unknown>>> {
    return this.dataSource.query(query);
  }

  destroy(): Promise<void> {
    return this.db.destroy();
  }
}

export const typeOrmWorld = (kind: DatabaseKind): WorldSpec<TypeOrmWorld> => ({ orm: 'TypeORM', kind, create: () => TypeOrmWorld.create(kind) });
