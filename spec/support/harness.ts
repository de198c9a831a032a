import type { DataSource } from 'typeorm';
import { StartOptions, SyncMachines, WorkerOptions } from '../../lib';
import { DatabaseKind, TestDatabase } from './database';
import { MemoryLogger } from './logger';
import { OrderToApiSync } from './order-sync';
import { ApiClient, PartnerApi } from './partner-api';
import { deleteKeys, freshPrefix, REDIS_URL } from './redis';
import { Customer, Order } from './shop';

/** Fast retries so failure tests finish quickly. */
export const FAST_WORKER: WorkerOptions = { concurrency: 10, retry: { attempts: 3, initialDelayMs: 20 } };

/**
 * Everything one suite needs: its own database (file or schema), Redis prefix, partner API and logger.
 * Runtimes started through it are closed in `stop()`.
 */
export class Harness {
  readonly logger = new MemoryLogger();
  readonly prefix: string;
  api!: PartnerApi;
  db!: TestDatabase;
  ds!: DataSource;
  private runtimes: SyncMachines[] = [];

  constructor(readonly kind: DatabaseKind, label: string) {
    this.prefix = freshPrefix(`${label}-${kind}`);
  }

  async setUp(): Promise<this> {
    this.db = await TestDatabase.create(this.kind);
    this.ds = await this.db.connect();
    this.api = await new PartnerApi().start();
    return this;
  }

  async start(options: Partial<StartOptions> = {}): Promise<SyncMachines> {
    const sync = await SyncMachines.start({
      orm: this.ds, redis: REDIS_URL, prefix: this.prefix, logger: this.logger,
      machines: [new OrderToApiSync(new ApiClient(this.api.url))], ...options,
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
    await this.db?.destroy();
    await deleteKeys(this.prefix);
  }

  async customer(firstName = 'Jane', lastName = 'Yang'): Promise<Customer> {
    return this.ds.getRepository(Customer).save({ firstName, lastName });
  }

  async order(customer: Customer, fields: Partial<Order> = {}): Promise<Order> {
    return this.ds.getRepository(Order).save({ customerId: customer.id, status: 'purchased', ...fields });
  }

  async update(order: Order, fields: Partial<Order>): Promise<Order> {
    const repo = this.ds.getRepository(Order);
    const fresh = await repo.findOneByOrFail({ id: order.id });
    Object.assign(fresh, fields);
    return repo.save(fresh);
  }

  /** Bee-Queue's own keys for a machine's queue. */
  queueKey(step: 'find-subjects' | 'ensure-publication', suffix: string, machine = 'OrderToApiSync'): string {
    return `${this.prefix}:${machine}:${step}:${suffix}`;
  }
}
