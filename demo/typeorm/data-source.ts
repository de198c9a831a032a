import { DataSource, DataSourceOptions, EntityManager } from 'typeorm';
import { CreateSyncMachinePayloads1764288000000, SyncMachinePayload } from 'sync-machine/typeorm';
import { parsePostgresUrl } from '../database';
import { Customer, Order } from './shop';

/** The DataSource for a demo database URL (`sqlite:<file>` or `postgres://...?schema=<name>`, see ../database.ts). */
export function optionsFor(url: string): DataSourceOptions {
  const base = { entities: [Customer, Order, SyncMachinePayload], migrations: [CreateSyncMachinePayloads1764288000000] };
  if (url.startsWith('sqlite:')) {
    // WAL: the worker process reads while this process writes, instead of waiting on each other's locks.
    return { ...base, type: 'better-sqlite3', database: url.slice('sqlite:'.length), enableWAL: true };
  }
  const { url: connection, schema } = parsePostgresUrl(url);
  return { ...base, type: 'postgres', url: connection, schema };
}

export async function connect(url: string): Promise<DataSource> {
  return new DataSource(optionsFor(url)).initialize();
}

/** Payload table through the library's migration, as an app would; the shop's own tables by synchronize. */
export async function createTables(dataSource: DataSource): Promise<void> {
  await dataSource.runMigrations();
  await dataSource.synchronize();
}

/**
 * SQLite only: makes the current transaction take the write lock up front, as BEGIN IMMEDIATE would.
 * TypeORM opens transactions with a deferred BEGIN, and save() reads before it writes; if the worker process
 * commits (it stores payloads in this same file) between that read and the write, SQLite cannot upgrade the
 * stale read and fails at once with "database is locked", busy timeout or not. A write as the first statement
 * waits for the lock instead.
 */
export async function lockForWrites(manager: EntityManager): Promise<void> {
  if (manager.connection.options.type !== 'better-sqlite3') return;
  await manager.query(`UPDATE "${manager.connection.getMetadata(Order).tableName}" SET id = id WHERE 0 = 1`);
}
