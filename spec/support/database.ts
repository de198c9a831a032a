import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, DataSourceOptions } from 'typeorm';
import { AddSyncMachinePayloadVersion1796083200000, CreateSyncMachinePayloads1764288000000, SyncMachinePayload } from '../../adapters/typeorm';
import { Customer, Order } from './shop';

export type DatabaseKind = 'sqlite' | 'postgres' | 'mariadb';
export const DATABASES: DatabaseKind[] = ['sqlite', 'postgres', 'mariadb'];

export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** A MariaDB (or MySQL) server; the suites create and drop their own databases on it, `test` is only the way in. */
export const MARIADB_URL = process.env.TEST_MARIADB_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** `mysql://user@host:port/db` with the database swapped: each suite gets its own. */
export function mariadbUrl(database: string): string {
  const url = new URL(MARIADB_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

/** A fresh name for a suite's schema (PostgreSQL) or database (MariaDB). */
export function suiteName(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/** One database per suite: a fresh SQLite file, a fresh PostgreSQL schema, or a fresh MariaDB database. */
export class TestDatabase {
  private dataSources: DataSource[] = [];

  private constructor(readonly kind: DatabaseKind, private readonly options: DataSourceOptions, private readonly cleanup: () => Promise<void>) {}

  static async create(kind: DatabaseKind, entities: DataSourceOptions['entities'] = [Customer, Order]): Promise<TestDatabase> {
    const base = { entities: [...(entities as Function[]), SyncMachinePayload], migrations: [CreateSyncMachinePayloads1764288000000, AddSyncMachinePayloadVersion1796083200000] };
    if (kind === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'sync-machine-'));
      const options = { ...base, type: 'better-sqlite3', database: join(dir, 'test.sqlite'), enableWAL: true } as DataSourceOptions;
      return new TestDatabase(kind, options, async () => rmSync(dir, { recursive: true, force: true }));
    }
    if (kind === 'mariadb') return TestDatabase.createMariaDb(base);
    const schema = suiteName('sm');
    const admin = new DataSource({ type: 'postgres', url: POSTGRES_URL });
    await admin.initialize();
    await admin.query(`CREATE SCHEMA "${schema}"`);
    // search_path too, so that the tests' raw SQL finds the suite's tables.
    const options = {
      ...base, type: 'postgres', url: POSTGRES_URL, schema, extra: { options: `-c search_path=${schema}` },
      // gen_random_uuid() is in PostgreSQL's core (13+), so a uuid key needs no extension on the suite's search_path.
      uuidExtension: 'pgcrypto',
    } as DataSourceOptions;
    return new TestDatabase(kind, options, async () => {
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
      await admin.destroy();
    });
  }

  private static async createMariaDb(base: Partial<DataSourceOptions>): Promise<TestDatabase> {
    const database = suiteName('sm');
    const admin = new DataSource({ type: 'mariadb', url: MARIADB_URL });
    await admin.initialize();
    await admin.query(`CREATE DATABASE \`${database}\``);
    // mysql2 returns DATETIME as a local-time Date by default; UTC keeps the payload table's times exact.
    const options = { ...base, type: 'mariadb', url: mariadbUrl(database), timezone: 'Z' } as DataSourceOptions;
    return new TestDatabase('mariadb', options, async () => {
      await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
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
