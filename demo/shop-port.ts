import type { ApiClient } from './api-client';
import type { BurstWrite } from './burst';

/** The seed's shop: a Customer has zero or more Orders; the partner API only knows Orders. */
export type OrderStatus = 'purchased' | 'shipped' | 'received';

/** The partner API's document for one order. */
export interface OrderPayload {
  id: string;
  customer_full_name: string;
  order_status: OrderStatus;
}

/** The writes the demo's steps make, each through the ORM's ordinary save path, as application code would. */
export interface ShopWrites {
  /** Resolves the new customer's id. */
  createCustomer(data: { firstName: string; lastName: string; email?: string }): Promise<number>;
  /** One save of many customers; resolves their ids in order. */
  createCustomers(data: Array<{ firstName: string; lastName: string }>): Promise<number[]>;
  /** One save of one new 'purchased' order per customer id; resolves their ids in order. */
  createOrders(customerIds: number[]): Promise<number[]>;
  /** Loads the order, changes it, saves it. */
  updateOrder(id: number, fields: { status?: OrderStatus; warehouseCode?: string }): Promise<void>;
  updateCustomer(id: number, fields: { firstName?: string; lastName?: string }): Promise<void>;
  /** Plays the burst like a long-running script: orders loaded once, one save per write, in transactions. */
  runBurst(orderIds: number[], transactions: BurstWrite[][]): Promise<number>;
}

/** The shop on one ORM: what the web process (main.ts) and the worker process need of it. */
export interface DemoShop {
  /** What `SyncMachines.start({ orm })` takes. */
  readonly orm: unknown;
  /** The machine, written against this ORM's entities. */
  machine(api: ApiClient): object;
  /** Creates the payload table with the library's migration, and the shop's tables. */
  createTables(): Promise<void>;
  /** The payload of every order, built by the machine from what the database holds now. */
  currentPayloads(): Promise<Map<number, string>>;
  readonly writes: ShopWrites;
  close(): Promise<void>;
}

/** One ORM's half of the demo: its shop, and a plain SQL connection for making the run's database. */
export interface DemoOrm {
  connect(url: string): Promise<DemoShop>;
  /** Runs statements on a short-lived connection to `url` (the run's own PostgreSQL schema). */
  admin(url: string): Promise<{ exec(sql: string): Promise<void>; close(): Promise<void> }>;
}
