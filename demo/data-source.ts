import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DataSource, DataSourceOptions, EntityManager } from 'typeorm';
import { CreateSyncMachinePayloads1764288000000, SyncMachinePayload } from 'sync-machine/typeorm';
import { Customer, Order } from './shop';

/** dist/demo/ -> the repo root; `.demo/` is gitignored. */
const SQLITE_FILE = resolve(__dirname, '..', '..', '.demo', 'shop.sqlite');

/**
 * The demo names a database by one URL, so main can hand it to the worker process in DATABASE_URL:
 * `sqlite:<file>` or `postgres://...?schema=<name>`. `schema` is the demo's own parameter, not pg's:
 * each run gets a fresh schema so reruns (and runs side by side) never see each other's rows.
 */
export function optionsFor(url: string): DataSourceOptions {
  const base = { entities: [Customer, Order, SyncMachinePayload], migrations: [CreateSyncMachinePayloads1764288000000] };
  if (url.startsWith('sqlite:')) {
    // WAL: the worker process reads while this process writes, instead of waiting on each other's locks.
    return { ...base, type: 'better-sqlite3', database: url.slice('sqlite:'.length), enableWAL: true };
  }
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') ?? undefined;
  parsed.searchParams.delete('schema');
  return { ...base, type: 'postgres', url: parsed.toString(), schema };
}

export async function connect(url: string): Promise<DataSource> {
  return new DataSource(optionsFor(url)).initialize();
}

export interface DemoDatabase {
  url: string;
  describe: string;
  dispose(): Promise<void>;
}

/** A fresh, empty database for this run: a new SQLite file, or a new PostgreSQL schema (dropped by dispose). */
export async function freshDatabase(databaseUrl: string | undefined): Promise<DemoDatabase> {
  if (!databaseUrl) {
    mkdirSync(join(SQLITE_FILE, '..'), { recursive: true });
    for (const suffix of ['', '-wal', '-shm']) rmSync(SQLITE_FILE + suffix, { force: true });
    // The file stays after the run, to be inspected.
    return { url: `sqlite:${SQLITE_FILE}`, describe: `SQLite ${SQLITE_FILE}`, dispose: async () => undefined };
  }
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new Error(`DATABASE_URL must be postgres://user@host:port/db (or unset for SQLite), got ${databaseUrl}`);
  }
  const schema = `sync_machine_demo_${randomBytes(4).toString('hex')}`;
  const admin = await new DataSource({ type: 'postgres', url: databaseUrl }).initialize();
  await admin.query(`CREATE SCHEMA "${schema}"`);
  const url = new URL(databaseUrl);
  url.searchParams.set('schema', schema);
  const shown = new URL(databaseUrl);
  shown.password = '';
  return {
    url: url.toString(),
    describe: `PostgreSQL ${shown.host}${shown.pathname}, schema ${schema}`,
    dispose: async () => {
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
      await admin.destroy();
    },
  };
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
