import type { EntityClass } from '../../../lib';
import type { DatabaseKind } from '../database';
import type { OrderSyncClass } from '../order-sync';

export type OrmName = 'TypeORM' | 'MikroORM';

/** What the tests and the machine read of a Customer, whichever ORM loaded it. */
export interface ShopCustomer {
  id: number;
  firstName: string;
  lastName: string;
  email: string;
  readonly fullName: string;
  readonly orderIds: number[];
}

/** What the tests and the machine read of an Order (its customer loaded with it). */
export interface ShopOrder {
  id: number;
  status: string;
  warehouseCode: string;
  version: number;
  customer: ShopCustomer;
}

export type OrderFields = Partial<Pick<ShopOrder, 'status' | 'warehouseCode' | 'version'>>;
export type CustomerFields = Partial<Pick<ShopCustomer, 'firstName' | 'lastName' | 'email'>>;

/** The shop's entity classes in one ORM, and the SPEC's machine written against them. */
export interface Shop {
  Customer: EntityClass;
  Order: EntityClass;
  OrderToApiSync: OrderSyncClass;
}

/** Writes inside one transaction, each through the ORM's ordinary save path. */
export interface ShopWriter {
  updateOrder(id: number, fields: OrderFields): Promise<void>;
}

/**
 * One ORM on one fresh database, seen through what the conformance suite needs: application-style writes
 * (the ORM's save/flush paths, which the adapter must capture), raw SQL (which it cannot), fresh reads, and
 * the handles `SyncMachines.start({ orm })` takes. Every behaviour the suite asserts goes through this, so an
 * adapter that cannot offer one fails the same test the other adapter passes.
 */
export interface ShopWorld {
  readonly orm: OrmName;
  readonly kind: DatabaseKind;
  readonly shop: Shop;
  /** What `SyncMachines.start({ orm })` takes: a DataSource, a MikroORM instance. */
  readonly handle: unknown;
  /** Another connection (pool, ORM instance) to the same database, as another process would have. */
  connect(): Promise<unknown>;
  createCustomer(firstName: string, lastName: string): Promise<ShopCustomer>;
  createOrder(customer: ShopCustomer, fields?: OrderFields): Promise<ShopOrder>;
  /** Loads the order, assigns `fields` and saves it, as a controller would. */
  updateOrder(id: number, fields: OrderFields): Promise<ShopOrder>;
  updateCustomer(id: number, fields: CustomerFields): Promise<void>;
  removeOrder(id: number): Promise<void>;
  /** A fresh read, with the customer: what `build()` sees now. */
  findOrder(id: number): Promise<ShopOrder>;
  /** Runs `work` in one ORM transaction; when it throws, the transaction rolls back and this rejects. */
  transaction(work: (tx: ShopWriter) => Promise<void>): Promise<void>;
  /** Raw SQL on the suite's tables: the path no adapter sees. */
  sql(query: string): Promise<Array<Record<string, unknown>>>;
  destroy(): Promise<void>;
}

/** How to make a world; suites make one per test. */
export interface WorldSpec<W extends ShopWorld = ShopWorld> {
  orm: OrmName;
  kind: DatabaseKind;
  create(): Promise<W>;
}
