import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, DataSourceOptions } from 'typeorm';
import { CreateSyncMachinePayloads1764288000000, SyncMachinePayload } from '../../adapters/typeorm';
import { Customer, Order } from './shop';

export type DatabaseKind = 'sqlite' | 'postgres';
export const DATABASES: DatabaseKind[] = ['sqlite', 'postgres'];

export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** One database per suite: a fresh SQLite file, or a fresh PostgreSQL schema. */
export class TestDatabase {
  private dataSources: DataSource[] = [];

  private constructor(readonly kind: DatabaseKind, private readonly options: DataSourceOptions, private readonly cleanup: () => Promise<void>) {}

  static async create(kind: DatabaseKind, entities: DataSourceOptions['entities'] = [Customer, Order]): Promise<TestDatabase> {
    const base = { entities: [...(entities as Function[]), SyncMachinePayload], migrations: [CreateSyncMachinePayloads1764288000000] };
    if (kind === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'sync-machine-'));
      const options = { ...base, type: 'better-sqlite3', database: join(dir, 'test.sqlite'), enableWAL: true } as DataSourceOptions;
      return new TestDatabase(kind, options, async () => rmSync(dir, { recursive: true, force: true }));
    }
    const schema = `sm_${randomBytes(6).toString('hex')}`;
    const admin = new DataSource({ type: 'postgres', url: POSTGRES_URL });
    await admin.initialize();
    await admin.query(`CREATE SCHEMA "${schema}"`);
    // search_path too, so that the tests' raw SQL finds the suite's tables.
    const options = {
      ...base, type: 'postgres', url: POSTGRES_URL, schema, extra: { options: `-c search_path=${schema}` },
    } as DataSourceOptions;
    return new TestDatabase(kind, options, async () => {
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
      await admin.destroy();
    });
  }

  /**
   * A new connection (pool) to this database. The first one runs the payload migration and, unless told
   * not to, synchronizes the shop tables.
   */
  async connect({ synchronize = true } = {}): Promise<DataSource> {
    const dataSource = new DataSource(this.options);
    await dataSource.initialize();
    if (this.dataSources.length === 0) {
      await dataSource.runMigrations();
      if (synchronize) await dataSource.synchronize();
    }
    this.dataSources.push(dataSource);
    return dataSource;
  }

  async destroy(): Promise<void> {
    for (const ds of this.dataSources) if (ds.isInitialized) await ds.destroy();
    await this.cleanup();
  }
}
