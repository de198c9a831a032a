import { MikroORM, type Options } from '@mikro-orm/core';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { BetterSqliteDriver } from '@mikro-orm/better-sqlite';
import { createPayloadTable, SyncMachinePayload } from 'sync-machine/mikro-orm';
import { parsePostgresUrl } from '../database';
import { Customer, Order } from './shop';

/** The MikroORM config for a demo database URL (`sqlite:<file>` or `postgres://...?schema=<name>`, see ../database.ts). */
export function configFor(url: string): Options {
  const base = { entities: [Customer, Order, SyncMachinePayload] };
  if (url.startsWith('sqlite:')) {
    return {
      ...base, driver: BetterSqliteDriver, dbName: url.slice('sqlite:'.length),
      // WAL: the worker process reads while this process writes; a busy wait instead of failing on a held lock.
      pool: { afterCreate: (conn: SqliteConnection, done: (error: Error | null, conn: unknown) => void) => {
        try {
          conn.pragma('journal_mode = WAL');
          conn.pragma('busy_timeout = 10000');
          done(null, conn);
        } catch (error) {
          done(error as Error, conn);
        }
      } },
    } as Options;
  }
  const { url: clientUrl, schema } = parsePostgresUrl(url);
  return { ...base, driver: PostgreSqlDriver, clientUrl, schema } as Options;
}

/** A better-sqlite3 Database, as the pool hands it over. */
interface SqliteConnection {
  pragma(sql: string): unknown;
}

export function connect(url: string): Promise<MikroORM> {
  return MikroORM.init(configFor(url));
}

/** Payload table through the library's createPayloadTable(), as an app's migration would; the shop's own by the schema generator. */
export async function createTables(orm: MikroORM): Promise<void> {
  await createPayloadTable(orm);
  // Limited to the run's schema: without it MikroORM compares against (and drops) the tables of every schema in the database.
  const schema = orm.config.get('schema');
  await orm.schema.updateSchema(schema ? { schema } : {});
}
