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
    const fresh = await this.one(Order, id);
    Object.assign(fresh, fields);
    return this.dataSource.getRepository(Order).save(fresh);
  }

  async updateCustomer(id: number, fields: CustomerFields): Promise<void> {
    await this.dataSource.getRepository(Customer).save(Object.assign(await this.one(Customer, id), fields));
  }

  async removeOrder(id: number): Promise<void> {
    await this.dataSource.getRepository(Order).remove(await this.one(Order, id));
  }

  findOrder(id: number): Promise<ShopOrder> {
    return this.one(Order, id);
  }

  /**
   * One row by id, with its eager relations. Through find(), not findOneBy(): TypeORM 0.3.x before some later
   * patch wraps findOne with an eager join in a DISTINCT subquery whose aliases collide on MySQL/MariaDB
   * (`Order.customer_id` and `Order.customer.id` both become `Order_customer_id`: "Duplicate column name").
   */
  private async one<E extends Customer | Order>(entity: new () => E, id: number): Promise<E> {
    const [row] = await this.dataSource.getRepository(entity).find({ where: { id } as never });
    if (!row) throw new Error(`TypeORM world: no ${entity.name} with id ${id}`);
    return row;
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
