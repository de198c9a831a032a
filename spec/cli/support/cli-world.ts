import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { DataSource } from 'typeorm';
import { main } from '../../../lib/cli/program';
import { POSTGRES_URL } from '../../support/database';
import { SyncMachines } from '../../../lib';
import { MemoryLogger } from '../../support/logger';
import { typeOrmShop } from '../../support/orms/typeorm';
import { ApiClient, PartnerApi } from '../../support/partner-api';
import { Customer, Order } from '../../support/shop';
import { deleteKeys, freshPrefix, REDIS_URL } from '../../support/redis';
import { shopDataSource } from '../fixtures/shop-data-source';

export const SHOP_CONFIG = join(__dirname, '..', 'fixtures', 'shop.config.ts');

/** Polls `condition` until it holds; fails naming `what` (read when it fails) after `timeoutMs`. */
export async function until(condition: () => boolean, what: string | (() => string), timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

class Buffered extends Writable {
  text = '';
  isTTY = false;
  _write(chunk: Buffer, _encoding: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

/** Runs the CLI in this process, as `sync-machine <argv>` would in `cwd`, with stdout and stderr captured (no TTY). */
export async function runInProcess(argv: string[], cwd = process.cwd()): Promise<CliRun> {
  const stdout = new Buffered();
  const stderr = new Buffered();
  const code = await main(argv, { stdout, stderr, cwd, env: process.env, signals: new EventEmitter() });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/**
 * What the CLI specs share: a PostgreSQL schema with the shop's tables and the payload table, a Redis
 * prefix, and the partner API; `env` is what shop.config.ts reads.
 */
export class CliWorld {
  readonly prefix = freshPrefix('cli');
  readonly schema = `sm_cli_${randomBytes(5).toString('hex')}`;
  readonly api = new PartnerApi();
  dataSource!: DataSource;
  customer!: Customer;
  private admin = new DataSource({ type: 'postgres', url: POSTGRES_URL });

  async setUp(): Promise<this> {
    await this.admin.initialize();
    await this.admin.query(`CREATE SCHEMA "${this.schema}"`);
    this.dataSource = await shopDataSource(this.schema).initialize();
    await this.dataSource.runMigrations();
    await this.dataSource.synchronize();
    this.customer = await this.dataSource.getRepository(Customer).save({ firstName: 'Jane', lastName: 'Yang' });
    await this.api.start();
    return this;
  }

  get env(): Record<string, string> {
    return { SM_CLI_SCHEMA: this.schema, SM_CLI_PREFIX: this.prefix, SM_CLI_API_URL: this.api.url };
  }

  /** For commands run in this process: shop.config.ts reads process.env. */
  exportEnv(): void {
    Object.assign(process.env, this.env);
  }

  /** Orders of the customer made at set-up (before any runtime could capture it). */
  /** A worker in this process, with the machine of the config; fast retries so a failure ends in seconds. */
  startWorker(logger = new MemoryLogger()): Promise<SyncMachines> {
    return SyncMachines.start({
      orm: this.dataSource, redis: REDIS_URL, prefix: this.prefix, logger,
      machines: [new typeOrmShop.OrderToApiSync(new ApiClient(this.api.url))],
      worker: { concurrency: 4, retry: { attempts: 2, initialDelayMs: 10 } },
    });
  }

  async orders(count: number, fields: Partial<Order> = {}): Promise<Order[]> {
    const rows = Array.from({ length: count }, () => ({ customerId: this.customer.id, status: 'purchased', ...fields }));
    return this.dataSource.getRepository(Order).save(rows);
  }

  async tearDown(): Promise<void> {
    for (const name of Object.keys(this.env)) delete process.env[name];
    await this.api.stop();
    if (this.dataSource?.isInitialized) await this.dataSource.destroy();
    await this.admin.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`);
    await this.admin.destroy();
    await deleteKeys(this.prefix);
  }
}
