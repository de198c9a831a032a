import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MikroORM, Options } from '@mikro-orm/core';
import { MikroORM as SqliteOrm } from '@mikro-orm/better-sqlite';
import { MikroORM as MySqlOrm } from '@mikro-orm/mysql';
import { MikroORM as PostgresOrm } from '@mikro-orm/postgresql';
import { createPayloadTable, SyncMachinePayload } from '../../../adapters/mikro-orm';
import { DatabaseKind, MARIADB_URL, mariadbUrl, POSTGRES_URL, suiteName } from '../database';
import { Customer, Order } from './mikro-orm-shop';

type Entities = NonNullable<Options['entities']>;

/** better-sqlite3 connections: WAL so that a second process reads while one writes, and a busy wait instead of SQLITE_BUSY. */
const SQLITE_POOL = {
  afterCreate(conn: { pragma(sql: string): unknown }, done: (error: Error | null, conn: unknown) => void) {
    try {
      conn.pragma('journal_mode = WAL');
      conn.pragma('busy_timeout = 10000');
      done(null, conn);
    } catch (error) {
      done(error as Error, conn);
    }
  },
};

/** The driver's MikroORM class: one per database, each with its own `init`. */
const ORMS = { sqlite: SqliteOrm, postgres: PostgresOrm, mariadb: MySqlOrm } as const;

/** One database per suite for MikroORM: a fresh SQLite file, a fresh PostgreSQL schema, or a fresh MariaDB database. */
export class MikroOrmTestDatabase {
  private orms: MikroORM[] = [];

  private constructor(
    readonly kind: DatabaseKind, private readonly options: Options, private readonly cleanup: () => Promise<void>,
    /** The suite's PostgreSQL schema. */
    readonly schema?: string,
  ) {}

  static async create(kind: DatabaseKind, entities: Entities = [Customer, Order]): Promise<MikroOrmTestDatabase> {
    const base = { entities: [...entities, SyncMachinePayload], allowGlobalContext: false, debug: false };
    if (kind === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'sync-machine-mikro-'));
      const options = { ...base, dbName: join(dir, 'test.sqlite'), pool: SQLITE_POOL } as Options;
      return new MikroOrmTestDatabase(kind, options, async () => rmSync(dir, { recursive: true, force: true }));
    }
    if (kind === 'mariadb') {
      const database = suiteName('smm');
      const admin = await MySqlOrm.init({ clientUrl: MARIADB_URL, entities: [], discovery: { warnWhenNoEntities: false } });
      await admin.em.getConnection().execute(`CREATE DATABASE \`${database}\``);
      const options = { ...base, clientUrl: mariadbUrl(database), timezone: '+00:00' } as Options;
      return new MikroOrmTestDatabase(kind, options, async () => {
        await admin.em.getConnection().execute(`DROP DATABASE IF EXISTS \`${database}\``);
        await admin.close(true);
      });
    }
    const schema = suiteName('smm');
    const admin = await PostgresOrm.init({ clientUrl: POSTGRES_URL, entities: [], discovery: { warnWhenNoEntities: false } });
    await admin.em.getConnection().execute(`CREATE SCHEMA "${schema}"`);
    // search_path too, so that the tests' raw SQL finds the suite's tables.
    const options = {
      ...base, clientUrl: POSTGRES_URL, schema, driverOptions: { connection: { options: `-c search_path=${schema}` } },
    } as Options;
    return new MikroOrmTestDatabase(kind, options, async () => {
      await admin.em.getConnection().execute(`DROP SCHEMA "${schema}" CASCADE`);
      await admin.close(true);
    }, schema);
  }

  /**
   * A new ORM instance (connection pool) on this database, with `options` over the suite's. The first one creates,
   * unless told not to, the tables of its entities, then runs the library's createPayloadTable(), as an app's
   * migration would (it keeps a payload table that is already there).
   */
  async connect({ createTables = true, options = {} as Options } = {}): Promise<MikroORM> {
    const merged = { ...this.options, ...options };
    const orm: MikroORM = await ORMS[this.kind].init(merged as never);
    if (this.orms.length === 0) {
      // createSchema, not updateSchema: it builds from metadata alone, while updateSchema reads the whole
      // catalog, which fails when another run drops its schema at that moment. No `schema` option: the config's
      // schema is the target anyway, and MikroORM before 6.x's later patches reads the option as a filter that
      // matches no entity (without a schema of their own), creating nothing.
      if (createTables) await orm.schema.createSchema();
      await createPayloadTable(orm);
    }
    this.orms.push(orm);
    return orm;
  }

  /**
   * For MikroORM's schema generator: without `schema` it compares against the tables of every schema in the
   * database, so it would match (and drop) other suites' tables running at the same time.
   */
  schemaOptions(): { schema?: string } {
    return this.schema ? { schema: this.schema } : {};
  }

  async destroy(): Promise<void> {
    for (const orm of this.orms) await orm.close(true);
    await this.cleanup();
  }
}
