import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, DataSourceOptions } from 'typeorm';
import { SyncMachinePayload } from 'sync-machine/typeorm';
import { typeOrm } from '../../demo/typeorm';
import { createTables, optionsFor } from '../../demo/typeorm/data-source';
import { Customer, Order } from '../../demo/typeorm/shop';
import type { DatabaseKind } from './config';
import { BenchDigest, LeanCustomer, LeanOrder } from './entities';

/** A database of this run only: a new SQLite file in the temp dir, or a new PostgreSQL schema; dispose() removes it. */
export interface BenchDatabase {
  kind: DatabaseKind;
  /** The demo's URL form (`sqlite:<file>` or `postgres://...?schema=`), also handed to worker processes. */
  url: string;
  dispose(): Promise<void>;
}

export async function freshDatabase(kind: DatabaseKind, postgresUrl: string): Promise<BenchDatabase> {
  const name = `sync_machine_bench_${randomBytes(4).toString('hex')}`;
  if (kind === 'sqlite') {
    const file = join(tmpdir(), `${name}.sqlite`);
    return {
      kind, url: `sqlite:${file}`,
      dispose: async () => { for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true }); },
    };
  }
  const admin = await typeOrm.admin(postgresUrl);
  await admin.exec(`CREATE SCHEMA "${name}"`);
  const url = new URL(postgresUrl);
  url.searchParams.set('schema', name);
  return {
    kind, url: url.toString(),
    dispose: async () => {
      await admin.exec(`DROP SCHEMA "${name}" CASCADE`);
      await admin.close();
    },
  };
}

function options(url: string, entities: DataSourceOptions['entities']): DataSourceOptions {
  return { ...optionsFor(url), entities } as DataSourceOptions;
}

/** The demo's entities (Order joins its Customer eagerly), the payload table, and the loops' digest table; creates the tables. */
export async function connectShop(db: BenchDatabase): Promise<DataSource> {
  const dataSource = await new DataSource(options(db.url, [Customer, Order, SyncMachinePayload, BenchDigest])).initialize();
  await createTables(dataSource);
  return dataSource;
}

/** The same tables through the lean mapping (no eager join), for the DataLoader contenders. Tables must exist. */
export async function connectLean(db: BenchDatabase): Promise<DataSource> {
  return new DataSource(options(db.url, [LeanCustomer, LeanOrder, SyncMachinePayload, BenchDigest])).initialize();
}

/** `orders` orders, `perCustomer` to a customer, all 'purchased' in 'W1'; resolves their ids in order. */
export async function seedShop(dataSource: DataSource, orders: number, perCustomer: number): Promise<number[]> {
  const customerCount = Math.ceil(orders / perCustomer);
  const customerIds: number[] = [];
  for (let i = 0; i < customerCount; i += 500) {
    const rows = Array.from({ length: Math.min(500, customerCount - i) }, (_, j) => ({
      firstName: `First${i + j}`, lastName: `Last${i + j}`, email: '',
    }));
    const result = await dataSource.getRepository(Customer).insert(rows);
    customerIds.push(...result.identifiers.map((x) => Number(x.id)));
  }
  const orderIds: number[] = [];
  for (let i = 0; i < orders; i += 500) {
    const rows = Array.from({ length: Math.min(500, orders - i) }, (_, j) => ({
      customerId: customerIds[(i + j) % customerCount], status: 'purchased' as const, warehouseCode: 'W1',
    }));
    const result = await dataSource.getRepository(Order).insert(rows);
    orderIds.push(...result.identifiers.map((x) => Number(x.id)));
  }
  return orderIds.sort((a, b) => a - b);
}

