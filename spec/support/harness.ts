import type { DataSource } from 'typeorm';
import { StartOptions, SyncMachines, WorkerOptions } from '../../lib';
import type { DatabaseKind } from './database';
import { MemoryLogger } from './logger';
import type { ShopCustomer, ShopOrder, ShopWorld, WorldSpec } from './orms';
import { TypeOrmWorld, typeOrmWorld } from './orms/typeorm';
import type { OrderFields } from './orms/world';
import { ApiClient, PartnerApi } from './partner-api';
import { deleteKeys, freshPrefix, REDIS_URL } from './redis';
import { BeeQueueKey, KeySpace } from '../../lib/redis/keys';

/** Fast retries so failure tests finish quickly. */
export const FAST_WORKER: WorkerOptions = { concurrency: 10, retry: { attempts: 3, initialDelayMs: 20 } };

/**
 * Everything one suite needs: its own ORM world (database file or schema), Redis prefix, partner API and
 * logger. Runtimes started through it are closed in `stop()`.
 */
export class Harness<W extends ShopWorld = ShopWorld> {
  readonly logger = new MemoryLogger();
  readonly prefix: string;
  api!: PartnerApi;
  w!: W;
  private runtimes: SyncMachines[] = [];

  readonly spec: WorldSpec<W>;

  /** A world to run in; a bare database kind means TypeORM on it. */
  constructor(spec: WorldSpec<W> | DatabaseKind, label: string) {
    this.spec = typeof spec === 'string' ? typeOrmWorld(spec) as unknown as WorldSpec<W> : spec;
    this.prefix = freshPrefix(`${label}-${this.spec.orm.toLowerCase()}-${this.spec.kind}`);
  }

  async setUp(): Promise<this> {
    this.w = await this.spec.create();
    this.api = await new PartnerApi().start();
    return this;
  }

  /** The TypeORM DataSource, for suites that run on TypeORM only. */
  get ds(): DataSource {
    if (!(this.w instanceof TypeOrmWorld)) throw new Error(`h.ds is a TypeORM DataSource, but this suite runs on ${this.w.orm}`);
    return this.w.dataSource;
  }

  /** The shop's entity classes and machine class in this world's ORM. */
  get shop() {
    return this.w.shop;
  }

  async start(options: Partial<StartOptions> = {}): Promise<SyncMachines> {
    const sync = await SyncMachines.start({
      orm: this.w.handle, redis: REDIS_URL, prefix: this.prefix, logger: this.logger,
      machines: [new this.shop.OrderToApiSync(new ApiClient(this.api.url))], ...options,
    });
    this.runtimes.push(sync);
    return sync;
  }

  /** A worker runtime, as a separate worker process would have one. */
  startWorker(options: Partial<StartOptions> = {}): Promise<SyncMachines> {
    return this.start({ worker: FAST_WORKER, ...options });
  }

  async stopRuntimes(): Promise<void> {
    await Promise.all(this.runtimes.map((r) => r.close()));
    this.runtimes = [];
  }

  async tearDown(): Promise<void> {
    await this.stopRuntimes();
    await this.api?.stop();
    await this.w?.destroy();
    await deleteKeys(this.prefix);
  }

  customer(firstName = 'Jane', lastName = 'Yang'): Promise<ShopCustomer> {
    return this.w.createCustomer(firstName, lastName);
  }

  order(customer: ShopCustomer, fields: OrderFields = {}): Promise<ShopOrder> {
    return this.w.createOrder(customer, fields);
  }

  update(order: { id: number }, fields: OrderFields): Promise<ShopOrder> {
    return this.w.updateOrder(order.id, fields);
  }

  /** Bee-Queue's own keys for a machine's queue. */
  queueKey(step: 'find-subjects' | 'ensure-publication', suffix: string, machine = 'OrderToApiSync'): string {
    return new KeySpace(this.prefix).queueKey(machine, step, suffix as BeeQueueKey);
  }
}
