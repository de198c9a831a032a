import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MikroORM, Options } from '@mikro-orm/core';
import { MikroORM as PostgresOrm } from '@mikro-orm/postgresql';
import { MikroORM as SqliteOrm } from '@mikro-orm/sqlite';
import { createPayloadTable, SyncMachinePayload } from '../../../adapters/mikro-orm';
import { DatabaseKind, POSTGRES_URL } from '../database';
import { Customer, Order } from './mikro-orm-shop';

type Entities = NonNullable<Options['entities']>;

/** sqlite3 connections: WAL so that a second process reads while one writes, and a busy wait instead of SQLITE_BUSY. */
const SQLITE_POOL = {
  afterCreate(conn: { run(sql: string, done: (error: Error | null) => void): void }, done: (error: Error | null, conn: unknown) => void) {
    conn.run('PRAGMA journal_mode = WAL', (error) => {
      if (error) return done(error, conn);
      conn.run('PRAGMA busy_timeout = 10000', (err) => done(err, conn));
    });
  },
};

/** One database per suite for MikroORM: a fresh SQLite file, or a fresh PostgreSQL schema. */
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
    const schema = `smm_${randomBytes(6).toString('hex')}`;
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
    const orm: MikroORM = this.kind === 'sqlite' ? await SqliteOrm.init(merged as never) : await PostgresOrm.init(merged as never);
    if (this.orms.length === 0) {
      // createSchema, not updateSchema: it builds from metadata alone, while updateSchema reads the whole
      // catalog, which fails when another run drops its schema at that moment.
      if (createTables) await orm.schema.createSchema(this.schemaOptions());
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
