import type { MikroORM } from '@mikro-orm/core';
import type { DatabaseKind } from '../database';
import { defineOrderSync } from '../order-sync';
import { MikroOrmTestDatabase } from './mikro-orm-database';
import { Customer, Order } from './mikro-orm-shop';
import type { CustomerFields, OrderFields, Shop, ShopWorld, WorldSpec } from './world';

export const mikroOrmShop: Shop = { Customer, Order, OrderToApiSync: defineOrderSync(Customer, Order) };

/** The shop on MikroORM: each write in its own fork (a request context), persisted with flush(). */
export class MikroOrmWorld implements ShopWorld {
  readonly orm = 'MikroORM';
  readonly shop = mikroOrmShop;

  private constructor(readonly kind: DatabaseKind, readonly db: MikroOrmTestDatabase, readonly mikroOrm: MikroORM) {}

  static async create(kind: DatabaseKind): Promise<MikroOrmWorld> {
    const db = await MikroOrmTestDatabase.create(kind);
    return new MikroOrmWorld(kind, db, await db.connect());
  }

  get handle(): MikroORM {
    return this.mikroOrm;
  }

  connect(): Promise<MikroORM> {
    return this.db.connect();
  }

  async createCustomer(firstName: string, lastName: string): Promise<Customer> {
    const em = this.mikroOrm.em.fork();
    const customer = em.create(Customer, { firstName, lastName });
    await em.flush();
    return customer;
  }

  async createOrder(customer: { id: number }, fields: OrderFields = {}): Promise<Order> {
    const em = this.mikroOrm.em.fork();
    const order = em.create(Order, { customer: em.getReference(Customer, customer.id), status: 'purchased', ...fields });
    await em.flush();
    return order;
  }

  async updateOrder(id: number, fields: OrderFields): Promise<Order> {
    const em = this.mikroOrm.em.fork();
    const order = em.assign(await em.findOneOrFail(Order, id), fields);
    await em.flush();
    return order;
  }

  async updateCustomer(id: number, fields: CustomerFields): Promise<void> {
    const em = this.mikroOrm.em.fork();
    em.assign(await em.findOneOrFail(Customer, id), fields);
    await em.flush();
  }

  async removeOrder(id: number): Promise<void> {
    const em = this.mikroOrm.em.fork();
    em.remove(await em.findOneOrFail(Order, id));
    await em.flush();
  }

  findOrder(id: number): Promise<Order> {
    return this.mikroOrm.em.fork().findOneOrFail(Order, id);
  }

  async transaction(work: Parameters<ShopWorld['transaction']>[0]): Promise<void> {
    await this.mikroOrm.em.fork().transactional((em) => work({
      updateOrder: async (id, fields) => {
        em.assign(await em.findOneOrFail(Order, id), fields);
        await em.flush();
      },
    }));
  }

  sql(query: string): Promise<Array<Record<string, unknown>>> {
    return this.mikroOrm.em.getConnection().execute(query);
  }

  destroy(): Promise<void> {
    return this.db.destroy();
  }
}

export const mikroOrmWorld = (kind: DatabaseKind): WorldSpec<MikroOrmWorld> => ({ orm: 'MikroORM', kind, create: () => MikroOrmWorld.create(kind) });
