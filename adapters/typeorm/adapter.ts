import { DataSource, EntityMetadata, FindOptionsRelations } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import { databaseLabel } from '../../lib/database-label';
import { ConfigurationError } from '../../lib/errors';
import { singleColumnKeyNeeded } from '../../lib/metadata/key-shape';
import { consoleLogger, Logger } from '../../lib/logger';
import { BIGINT_COLUMN_TYPES, collationIgnoresCase, KeyKind, keyValue, rowId, uuidFoldsCase } from '../../lib/key-kinds';
import { ColumnKind, sqlColumnKind } from '../../lib/where-values';
import { UNPUBLISHED_DIGEST } from '../../lib/store/payload-row';
import { keyOfStoredId, SqlDialect } from '../../lib/store/stored-key-sql';
import type { CaptureOptions, ColumnFilter, CommitListener, EntityClass, EntityInfo, OrmAdapter, StoredWithoutRow } from '../../lib/ports';
import { CaptureSubscriber } from './capture-subscriber';
import { MYSQL_TYPES } from './column-bytes';
import { PAYLOAD_ENTITY_NAME } from './payload-entity';
import { ownedToOne } from './snapshot';
import { TypeOrmOutboxStore } from './outbox-store';
import { TypeOrmPayloadStore } from './payload-store';

const POSTGRES_TYPES = new Set<string>(['postgres', 'cockroachdb', 'aurora-postgres']);
const INTEGER_TYPES = new Set(['int', 'integer', 'int2', 'int4', 'smallint', 'tinyint', 'mediumint', 'smallserial', 'serial']);

/** TypeORM's SQLite drivers: SQLite refuses an expression nested deeper than 1,000 (SQLITE_MAX_EXPR_DEPTH). */
const SQLITE_TYPES = new Set(['better-sqlite3', 'sqlite', 'sqljs', 'capacitor', 'cordova', 'expo', 'react-native']);

/**
 * Rows loaded per query on SQLite. TypeORM reads a @RelationId of the loaded rows' relations with one `OR` term
 * per related row, one level deeper each: a batch of 1,000 orders of 1,000 customers failed every time with
 * "Expression tree is too large (maximum depth 1000)".
 */
const SQLITE_LOAD_CHUNK = 500;

/** sync-machine on a TypeORM DataSource. */
export class TypeOrmAdapter implements OrmAdapter {
  readonly name = 'TypeORM';
  readonly blocksEventLoop: boolean;
  readonly payloads: TypeOrmPayloadStore;
  readonly outbox: TypeOrmOutboxStore;
  private readonly loadChunk: number;

  constructor(private readonly dataSource: DataSource, private readonly logger: Logger = consoleLogger) {
    if (!dataSource.isInitialized) {
      throw new ConfigurationError('orm: the TypeORM DataSource is not initialized: `await dataSource.initialize()` before SyncMachines.start.');
    }
    this.blocksEventLoop = dataSource.options.type === 'better-sqlite3';
    this.loadChunk = SQLITE_TYPES.has(dataSource.options.type) ? SQLITE_LOAD_CHUNK : Infinity;
    this.payloads = new TypeOrmPayloadStore(dataSource);
    this.outbox = new TypeOrmOutboxStore(dataSource, logger);
  }

  databaseLabel(): string {
    const o = this.dataSource.options as { type: string; url?: string; host?: string; port?: number; database?: string; schema?: string };
    return databaseLabel({ type: o.type, url: o.url, host: o.host, port: o.port, database: o.database, schema: o.schema });
  }

  describe(entity: EntityClass): EntityInfo | undefined {
    if (!this.dataSource.hasMetadata(entity)) return undefined;
    const metadata = this.dataSource.getMetadata(entity);
    if (metadata.primaryColumns.length !== 1) {
      throw singleColumnKeyNeeded(this.name, metadata.name, metadata.primaryColumns.map((column) => column.propertyPath));
    }
    return {
      name: metadata.name,
      primaryKey: metadata.primaryColumns[0].propertyName,
      keyKind: keyKindOf(metadata),
      keyIgnoresCase: dialectOf(metadata.connection.options.type) === 'mysql' && collationIgnoresCase(metadata.primaryColumns[0].collation),
      properties: [...new Set([...metadata.columns, ...metadata.relations, ...metadata.allEmbeddeds].map((c) => c.propertyPath))],
      table: metadata.tablePath,
      foreignSides: Object.fromEntries(metadata.relations.filter((r) => r.isOneToMany || r.isOneToOneNotOwner).map((r) => [
        r.propertyPath, { entity: r.inverseEntityMetadata.name, property: r.inverseRelation?.propertyPath },
      ])),
      columnKinds: Object.fromEntries(metadata.columns.map((c) => [c.propertyPath, this.columnKindOf(c)])),
      manyToMany: Object.fromEntries(metadata.relations.filter((r) => r.isManyToMany).map((r) => [r.propertyPath, r.inverseEntityMetadata.name])),
      // A relation TypeORM did not load is absent from the row; one loaded and empty is null (or []).
      unloaded: (row) => metadata.relations.map((r) => r.propertyName).filter((name) => (row as Record<string, unknown>)[name] === undefined),
    };
  }

  /** A column's type family: the declared (or reflected) type, as the driver names it. */
  private columnKindOf(column: ColumnMetadata): ColumnKind {
    const type = column.type;
    if (type === Boolean) return 'boolean';
    if (type === Date) return 'date';
    // Enums and TypeORM's simple-* types are none of sqlColumnKind's families: 'other', not checked.
    return sqlColumnKind(typeof type === 'string' ? type : String(this.dataSource.driver.normalizeType(column)));
  }

  payloadEntityMissing(): string | undefined {
    if (this.dataSource.hasMetadata(PAYLOAD_ENTITY_NAME)) return undefined;
    return "The DataSource does not know the SyncMachinePayload entity: import { SyncMachinePayload } from 'sync-machine/typeorm' " +
      'and add it to `entities` (and, unless `sync-machine generate` wrote a migration for it already, ' +
      'CreateSyncMachinePayloads1764288000000 to `migrations`).';
  }

  onCommitted(watched: ReadonlySet<EntityClass>, listener: CommitListener, options: CaptureOptions = {}): () => void {
    const subscriber = new CaptureSubscriber(watched, listener, this.logger, options.outbox ? this.outbox : undefined, options.fields);
    this.dataSource.subscribers.push(subscriber);
    return () => {
      const index = this.dataSource.subscribers.indexOf(subscriber);
      if (index >= 0) this.dataSource.subscribers.splice(index, 1);
    };
  }

  relationProblem(entity: EntityClass, path: string): string | undefined {
    let metadata = this.dataSource.getMetadata(entity);
    for (const name of path.split('.')) {
      const relation = metadata.relations.find((r) => r.propertyName === name);
      if (!relation) {
        const known = metadata.relations.map((r) => r.propertyName);
        return `${metadata.name} has no relation "${name}" (${known.length ? `its relations: ${known.join(', ')}` : 'it has no relations'})`;
      }
      metadata = relation.inverseEntityMetadata;
    }
    return undefined;
  }

  async load(entity: EntityClass, ids: string[], relations?: string[], toOneKeys = false): Promise<Map<string, object>> {
    const metadata = this.dataSource.getMetadata(entity);
    const pk = metadata.primaryColumns[0];
    const kind = keyKindOf(metadata);
    // Eager and lazy ones load (or are awaited) as the app declared them. Without this a mapper's `stock.product.id`
    // threw on every attempt when `product` was not eager (a trial), though it works on a removal's snapshot.
    const keyed = toOneKeys && relations === undefined
      ? ownedToOne(metadata).filter((r) => !r.isEager && !r.isLazy && !r.embeddedMetadata)
      : [];
    const found = new Map<string, object>();
    for (const chunk of this.keyChunks(metadata, ids)) {
      // find()'s own query (its alias, eager and named relations), with the keys bound as one list: find's
      // `In(keys)` builds a parameter object per key, 0.6-2 ms of the 10-12 ms that 500 rows took on SQLite.
      const rows = await this.dataSource.getRepository(entity).createQueryBuilder(metadata.name)
        .setFindOptions({
          relations: relations && relationTree(relations),
          // `{ id: 2 }` from the row's own foreign-key column: no further query.
          ...(keyed.length > 0 ? { loadRelationIds: { relations: keyed.map((r) => r.propertyPath), disableMixedMap: true } } : {}),
        })
        .andWhere(`${metadata.name}.${pk.propertyPath} IN (:...keys)`, { keys: chunk })
        .getMany();
      for (const row of rows) {
        for (const relation of keyed) {
          // No related row: null, as in a snapshot, where loadRelationIds gives `{ id: null }` (set as is:
          // setEntityValue would merge into that object).
          const key = relation.getEntityValue(row) as Record<string, unknown> | undefined;
          if (key && Object.values(key).every((value) => value === null || value === undefined)) {
            (row as Record<string, unknown>)[relation.propertyName] = null;
          }
        }
        found.set(rowId(kind, pk.getEntityValue(row)), row);
      }
    }
    return found;
  }

  async pageIds(entity: EntityClass, afterId: string | undefined, limit: number): Promise<string[]> {
    return this.pageIdsWhere(entity, {}, afterId, limit);
  }

  async pageIdsWhere(entity: EntityClass, where: ColumnFilter, afterId: string | undefined, limit: number): Promise<string[]> {
    const metadata = this.dataSource.getMetadata(entity);
    const pk = metadata.primaryColumns[0].propertyName;
    const kind = keyKindOf(metadata);
    const query = this.filtered(metadata, where).select(`e.${pk}`, 'id').orderBy(`e.${pk}`, 'ASC').limit(limit);
    if (afterId !== undefined) query.andWhere(`e.${pk} > :after`, { after: keyValue(kind, afterId) });
    const rows: Array<{ id: unknown }> = await query.getRawMany();
    return rows.map((r) => rowId(kind, r.id));
  }

  async countRows(entity: EntityClass, where: ColumnFilter = {}): Promise<number> {
    return this.filtered(this.dataSource.getMetadata(entity), where).getCount();
  }

  async presentIds(entity: EntityClass, ids: string[]): Promise<Set<string>> {
    const metadata = this.dataSource.getMetadata(entity);
    const pk = metadata.primaryColumns[0].propertyPath;
    const present = new Set<string>();
    for (const chunk of this.keyChunks(metadata, ids)) {
      const rows: Array<{ id: unknown }> = await this.dataSource.getRepository(entity).createQueryBuilder('e')
        .select(`e.${pk}`, 'id').where(`e.${pk} IN (:...keys)`, { keys: chunk }).getRawMany();
      for (const row of rows) present.add(rowId(keyKindOf(metadata), row.id));
    }
    return present;
  }

  /**
   * Stored subjects of `machine` whose row is gone, after `afterId` in subject id order: one anti-join, in which the
   * database probes the key per stored subject and sends back only those without a row (usually none). Reading
   * every stored id and looking each up among the walk's ids in memory was about 5 ms of a fresh app's 60 ms
   * unchanged resync of 5,000 orders on SQLite. Undefined for a database or key type it cannot compare (stored-key-sql.ts).
   */
  storedWithoutRow(entity: EntityClass, machine: string): StoredWithoutRow | undefined {
    const metadata = this.dataSource.getMetadata(entity);
    const pk = metadata.primaryColumns[0];
    const payloads = this.payloads.repo;
    const driver = this.dataSource.driver;
    const stored = `${driver.escape('p')}.${driver.escape(payloads.metadata.findColumnWithPropertyName('subjectId')!.databaseName)}`;
    const dialect = dialectOf(this.dataSource.options.type);
    const key = dialect && keyOfStoredId(dialect, driver.normalizeType(pk), stored);
    if (key === undefined) return undefined;
    // The row's own query builder, so that what pageIds does not see (a soft-deleted row, another single-table
    // child) counts as gone here too; its conditions may bring parameters (the discriminator's values).
    const rowQuery = this.dataSource.getRepository(entity).createQueryBuilder('e').select('1')
      .where(`${driver.escape('e')}.${driver.escape(pk.databaseName)} = ${key}`);
    const row = rowQuery.getQuery();
    const rowParameters = rowQuery.getParameters();
    return async (afterId, limit) => {
      const query = payloads.createQueryBuilder('p').select('p.subjectId', 'id').where('p.machine = :machine', { machine })
        .andWhere('p.digest <> :unpublished', { unpublished: UNPUBLISHED_DIGEST }).andWhere(`NOT EXISTS (${row})`).setParameters(rowParameters).orderBy('p.subjectId', 'ASC').limit(limit);
      if (afterId !== undefined) query.andWhere('p.subjectId > :after', { after: afterId });
      const rows: Array<{ id: unknown }> = await query.getRawMany();
      return rows.map((r) => String(r.id));
    };
  }

  /** The ids as the key compares them (those no row can have left out), in lists the driver takes in one query. */
  private keyChunks(metadata: EntityMetadata, ids: string[]): Array<Array<string | number>> {
    const kind = keyKindOf(metadata);
    const keys = ids.map((id) => keyValue(kind, id)).filter((key) => key !== undefined);
    const chunks: Array<Array<string | number>> = [];
    for (let i = 0; i < keys.length; i += this.loadChunk) chunks.push(keys.slice(i, i + this.loadChunk));
    return chunks;
  }

  /** Column equality as bound parameters; names are checked against the entity's columns, never spliced in blind. */
  private filtered(metadata: EntityMetadata, where: ColumnFilter) {
    const query = this.dataSource.getRepository(metadata.target).createQueryBuilder('e');
    Object.entries(where).forEach(([property, value], i) => {
      const column = metadata.columns.find((c) => c.propertyPath === property);
      if (!column) {
        throw new ConfigurationError(`${metadata.name} has no column "${property}" to filter on: use one of ` +
          `${metadata.columns.map((c) => c.propertyPath).join(', ')}.`);
      }
      query.andWhere(value === null ? `e.${property} IS NULL` : `e.${property} = :w${i}`, { [`w${i}`]: value });
    });
    return query;
  }
}

/** Dotted paths in TypeORM's object form, which 0.3 and 1.x both take (1.x refuses string arrays). */
function relationTree(paths: string[]): FindOptionsRelations<object> {
  const tree: Record<string, unknown> = {};
  for (const path of paths) {
    let node = tree;
    for (const name of path.split('.')) {
      node[name] = node[name] === undefined || node[name] === true ? {} : node[name];
      node = node[name] as Record<string, unknown>;
    }
  }
  const close = (node: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(node).map(([k, v]) => {
      const child = v as Record<string, unknown>;
      return [k, Object.keys(child).length === 0 ? true : close(child)];
    }));
  return close(tree) as FindOptionsRelations<object>;
}

/** The dialect of stored-key-sql.ts, or undefined for a database it does not know. */
function dialectOf(type: string): SqlDialect | undefined {
  if (SQLITE_TYPES.has(type)) return 'sqlite';
  if (POSTGRES_TYPES.has(type)) return 'postgresql';
  return MYSQL_TYPES.has(type) ? 'mysql' : undefined;
}

/** What ids the key holds: subject ids travel as strings, and keyValue() turns them back (an id no row can have matches nothing). */
function keyKindOf(metadata: EntityMetadata): KeyKind {
  const key = metadata.primaryColumns[0];
  const type = key.type;
  // TypeORM hands a 64-bit key's values out as strings (PostgreSQL, MySQL/MariaDB).
  if (typeof type === 'string' && BIGINT_COLUMN_TYPES.has(type)) return 'bigint';
  if (type === Number || (typeof type === 'string' && INTEGER_TYPES.has(type))) return 'integer';
  // A uuid key is one id in any case where the database compares it so (uuidFoldsCase); SQLite's text compares it as spelled.
  if (type === 'uuid' || key.generationStrategy === 'uuid') {
    const column = typeof type === 'string' ? type : 'uuid'; // generated without a type: TypeORM's own uuid column
    return uuidFoldsCase(dialectOf(metadata.connection.options.type), column, key.collation) ? 'uuid' : 'uuid-text';
  }
  return 'text';
}

