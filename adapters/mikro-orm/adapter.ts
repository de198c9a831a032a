import { Reference, ReferenceKind, RequestContext, Utils, wrap } from '@mikro-orm/core';
import type { Collection, EntityMetadata, EntityProperty, EventManager, EventSubscriber, MikroORM } from '@mikro-orm/core';
import { databaseLabel } from '../../lib/database-label';
import { ConfigurationError } from '../../lib/errors';
import { singleColumnKeyNeeded } from '../../lib/metadata/key-shape';
import { consoleLogger, Logger } from '../../lib/logger';
import { BIGINT_COLUMN_TYPES, KeyKind, keyValue, rowId, uuidFoldsCase } from '../../lib/key-kinds';
import { ColumnKind, sqlColumnKind } from '../../lib/where-values';
import type { CaptureOptions, ColumnFilter, CommitListener, EntityClass, EntityInfo, OrmAdapter, StoredWithoutRow } from '../../lib/ports';
import { UNPUBLISHED_DIGEST } from '../../lib/store/payload-row';
import { keyOfStoredId, SqlDialect } from '../../lib/store/stored-key-sql';
import { CaptureSubscriber } from './capture-subscriber';
import { PAYLOAD_ENTITY_NAME } from './payload-entity';
import { MikroOrmOutboxStore } from './outbox-store';
import { MikroOrmPayloadStore } from './payload-store';
import { dialectOf } from './migration';
import { sqlNames } from './raw-sql';

/** The dialect of stored-key-sql.ts for each of dialectOf's; absent for a database it does not know. */
const SQL_DIALECTS: Partial<Record<string, SqlDialect>> = { postgresql: 'postgresql', sqlite: 'sqlite', mysql: 'mysql', mariadb: 'mysql' };

/** sync-machine on a MikroORM instance. Every read runs in a fresh fork of the EntityManager. */
export class MikroOrmAdapter implements OrmAdapter {
  readonly name = 'MikroORM';
  readonly blocksEventLoop: boolean;
  readonly payloads: MikroOrmPayloadStore;
  readonly outbox: MikroOrmOutboxStore;
  /** The dialect of stored-key-sql.ts; undefined for a database it does not know. */
  private readonly dialect: SqlDialect | undefined;

  constructor(private readonly orm: MikroORM, logger: Logger = consoleLogger) {
    // @mikro-orm/better-sqlite runs its queries on the event loop (@mikro-orm/sqlite's sqlite3 has a thread).
    this.blocksEventLoop = orm.em.getPlatform().constructor.name === 'BetterSqlitePlatform';
    this.dialect = SQL_DIALECTS[dialectOf(orm)];
    this.payloads = new MikroOrmPayloadStore(orm);
    this.outbox = new MikroOrmOutboxStore(orm, logger);
  }

  databaseLabel(): string {
    const config = this.orm.config as unknown as { get(key: string): unknown };
    const text = (key: string) => (typeof config.get(key) === 'string' || typeof config.get(key) === 'number' ? String(config.get(key)) : undefined);
    return databaseLabel({
      type: this.orm.em.getPlatform().constructor.name.replace(/Platform$/, ''), url: text('clientUrl'), host: text('host'),
      port: text('port'), database: text('dbName'), schema: text('schema'),
    });
  }

  describe(entity: EntityClass): EntityInfo | undefined {
    const meta = this.metadataOf(entity);
    if (!meta) return undefined;
    if (meta.primaryKeys.length !== 1) throw singleColumnKeyNeeded(this.name, meta.className, meta.primaryKeys);
    const foreignSides: EntityInfo['foreignSides'] = {};
    const manyToMany: EntityInfo['manyToMany'] = {};
    for (const prop of meta.relations) {
      if (prop.kind === ReferenceKind.ONE_TO_MANY || (prop.kind === ReferenceKind.ONE_TO_ONE && !prop.owner)) {
        foreignSides[prop.name] = { entity: prop.targetMeta?.className ?? prop.type, property: prop.mappedBy };
      }
      if (prop.kind === ReferenceKind.MANY_TO_MANY) manyToMany[prop.name] = prop.targetMeta?.className ?? prop.type;
    }
    return {
      name: meta.className, primaryKey: meta.primaryKeys[0], keyKind: keyKindOf(meta, this.dialect), properties: meta.props.map((p) => p.name),
      keyIgnoresCase: this.dialect === 'mysql', table: meta.schema ? `${meta.schema}.${meta.tableName}` : meta.tableName,
      foreignSides, columnKinds: Object.fromEntries(filterColumns(meta).map((p) => [p.name, columnKindOf(p)])), manyToMany,
      unloaded: (row) => meta.relations.filter((p) => !relationLoaded((row as Record<string, unknown>)[p.name])).map((p) => p.name),
    };
  }

  payloadEntityMissing(): string | undefined {
    if (this.orm.getMetadata().has(PAYLOAD_ENTITY_NAME)) return undefined;
    return "The MikroORM config does not know the SyncMachinePayload entity: import { SyncMachinePayload } from " +
      "'sync-machine/mikro-orm', add it to `entities`, and create its table with createPayloadTable(orm) (or payloadTableSql() in a migration).";
  }

  onCommitted(watched: ReadonlySet<EntityClass>, listener: CommitListener, options: CaptureOptions = {}): () => void {
    const subscriber = new CaptureSubscriber(watched, listener, options.outbox ? this.outbox : undefined);
    // Forks share this event manager (unless made with cloneEventManager/freshEventManager), request contexts too.
    const events = this.orm.em.getEventManager();
    events.registerSubscriber(subscriber);
    return () => {
      subscriber.deactivate();
      unregister(events, subscriber);
    };
  }

  relationProblem(entity: EntityClass, path: string): string | undefined {
    let meta = this.metadataOf(entity)!;
    for (const name of path.split('.')) {
      const relations = meta.props.filter((p) => p.kind !== ReferenceKind.SCALAR && p.kind !== ReferenceKind.EMBEDDED);
      const relation = relations.find((p) => p.name === name);
      if (!relation) {
        return `${meta.className} has no relation "${name}" (${relations.length
          ? `its relations: ${relations.map((p) => p.name).join(', ')}` : 'it has no relations'})`;
      }
      meta = relation.targetMeta ?? this.orm.getMetadata().find(relation.type)!;
    }
    return undefined;
  }

  async load(entity: EntityClass, ids: string[], relations?: string[]): Promise<Map<string, object>> {
    const meta = this.metadataOf(entity)!;
    const pk = meta.primaryKeys[0];
    const keys = this.keysOf(meta, ids);
    const found = new Map<string, object>();
    if (keys.length === 0) return found;
    // A fresh fork per load: nothing cached from an earlier job, eager relations loaded, the app's filters applied.
    const rows = await this.orm.em.fork().find(meta.class, { [pk]: { $in: keys } } as never, { populate: relations as never });
    const kind = keyKindOf(meta, this.dialect);
    for (const row of rows) found.set(rowId(kind, (row as Record<string, unknown>)[pk]), row as object);
    return found;
  }

  async pageIds(entity: EntityClass, afterId: string | undefined, limit: number): Promise<string[]> {
    return this.pageIdsWhere(entity, {}, afterId, limit);
  }

  async pageIdsWhere(entity: EntityClass, where: ColumnFilter, afterId: string | undefined, limit: number): Promise<string[]> {
    const meta = this.metadataOf(entity)!;
    const pk = meta.primaryKeys[0];
    const kind = keyKindOf(meta, this.dialect);
    const filter = { ...checkedFilter(meta, where), ...(afterId === undefined ? {} : { [pk]: { $gt: keyValue(kind, afterId) } }) };
    // The driver returns plain rows: no entities to hydrate, no eager relations to load for a list of keys.
    const rows = await this.orm.em.fork().getDriver().find(meta.className, filter as never,
      { fields: [pk] as never, orderBy: { [pk]: 'asc' } as never, limit });
    return rows.map((row) => rowId(kind, (row as Record<string, unknown>)[pk]));
  }

  async presentIds(entity: EntityClass, ids: string[]): Promise<Set<string>> {
    const meta = this.metadataOf(entity)!;
    const pk = meta.primaryKeys[0];
    const keys = this.keysOf(meta, ids);
    if (keys.length === 0) return new Set();
    const rows = await this.orm.em.fork().getDriver().find(meta.className, { [pk]: { $in: keys } } as never, { fields: [pk] as never });
    const kind = keyKindOf(meta, this.dialect);
    return new Set(rows.map((row) => rowId(kind, (row as Record<string, unknown>)[pk])));
  }

  /**
   * Stored subjects of `machine` whose row is gone, after `afterId` in subject id order: one anti-join, which sends
   * back only those (see the TypeORM adapter's). Undefined for a database or key type it cannot compare
   * (stored-key-sql.ts), and for a single-table child, whose rows pageIds tells apart by a condition this would lack.
   */
  /**
   * A RequestContext per batch: `@mikro-orm/nestjs` injects the global EntityManager, whose find() outside a
   * context throws "Using global EntityManager instance methods for context specific actions is disallowed", so
   * every hook that used it failed in workers (a trial), while the same code worked in the app's requests.
   */
  inContext<T>(run: () => Promise<T>): Promise<T> {
    return RequestContext.create(this.orm.em, run);
  }

  storedWithoutRow(entity: EntityClass, machine: string): StoredWithoutRow | undefined {
    const meta = this.metadataOf(entity)!;
    const dialect = this.dialect;
    const key = meta.properties[meta.primaryKeys[0] as never];
    const payloads = this.orm.getMetadata().find(PAYLOAD_ENTITY_NAME);
    if (meta.discriminatorValue !== undefined || !payloads || !dialect) return undefined;
    const { q, table, column } = sqlNames(this.orm);
    const stored = `${q('p')}.${column(payloads, 'subjectId')}`;
    const keySql = keyOfStoredId(dialect, key.columnTypes?.[0] ?? '', stored);
    if (keySql === undefined) return undefined;
    const sql = (after: boolean, limit: number) => `SELECT ${stored} AS id FROM ${table(payloads)} ${q('p')} ` +
      `WHERE ${q('p')}.${column(payloads, 'machine')} = ?${after ? ` AND ${stored} > ?` : ''} ` +
      `AND ${q('p')}.${column(payloads, 'digest')} <> '${UNPUBLISHED_DIGEST}' ` +
      `AND NOT EXISTS (SELECT 1 FROM ${table(meta)} ${q('e')} WHERE ${q('e')}.${q(key.fieldNames[0])} = ${keySql}) ` +
      `ORDER BY ${stored} LIMIT ${Math.floor(limit)}`;
    return async (afterId, limit) => {
      const rows: Array<{ id: unknown }> = await this.orm.em.fork().getConnection()
        .execute(sql(afterId !== undefined, limit), afterId === undefined ? [machine] : [machine, afterId]);
      return rows.map((row) => String(row.id));
    };
  }

  /** The ids as the key compares them; those no row can have are left out. */
  private keysOf(meta: EntityMetadata, ids: string[]): Array<string | number> {
    const kind = keyKindOf(meta, this.dialect);
    return ids.map((id) => keyValue(kind, id)).filter((key) => key !== undefined);
  }

  async countRows(entity: EntityClass, where: ColumnFilter = {}): Promise<number> {
    const meta = this.metadataOf(entity)!;
    return this.orm.em.fork().getDriver().count(meta.className, checkedFilter(meta, where) as never);
  }

  private metadataOf(entity: EntityClass): EntityMetadata | undefined {
    const meta = typeof entity === 'function' ? this.orm.getMetadata().find(entity.name) : undefined;
    // Same name is not enough: it must be this very class (a TypeORM Order is not the MikroORM Order).
    return meta && meta.class === entity && !meta.embeddable && !meta.virtual ? meta : undefined;
  }
}

/**
 * MikroORM 6 has no unregisterSubscriber: take it out of the manager's listener collections by hand. They are
 * Sets in later 6.x releases and arrays in earlier ones (6.0.x).
 */
function unregister(events: EventManager, subscriber: EventSubscriber): void {
  type Listeners = Set<EventSubscriber> | EventSubscriber[];
  const internals = events as unknown as {
    subscribers?: Listeners; listeners?: Record<string, Listeners>; entities?: Map<EventSubscriber, unknown>;
    cache?: Map<unknown, unknown>;
  };
  const remove = (from: Listeners | undefined) => {
    if (from instanceof Set) from.delete(subscriber);
    else if (Array.isArray(from) && from.includes(subscriber)) from.splice(from.indexOf(subscriber), 1);
  };
  remove(internals.subscribers);
  for (const listeners of Object.values(internals.listeners ?? {})) remove(listeners);
  internals.entities?.delete(subscriber);
  internals.cache?.clear();
}

/** Column equality, by property name; names are checked against the entity's columns, values bound by MikroORM. */
function checkedFilter(meta: EntityMetadata, where: ColumnFilter): Record<string, unknown> {
  const columns = filterColumns(meta).map((p) => p.name);
  for (const property of Object.keys(where)) {
    const embedded = meta.properties[property as never] as EntityProperty | undefined;
    if (embedded?.kind === ReferenceKind.EMBEDDED) {
      const inside = filterColumns(meta).filter((p) => p.embedded?.[0] === property).map((p) => p.name);
      throw new ConfigurationError(`${meta.className}.${property} is an embedded object, which no single value can equal: ` +
        `filter on one of its columns${inside.length > 0 ? ` (${inside.join(', ')})` : ''}.`);
    }
    if (!columns.includes(property)) {
      throw new ConfigurationError(`${meta.className} has no column "${property}" to filter on: use one of ${columns.join(', ')}.`);
    }
  }
  return { ...where };
}

/**
 * What `where` can name: the columns, an inline embeddable's by their own property (`address_city`), not the
 * embedded object itself (`address`), which MikroORM would take apart as if the value were an object.
 */
function filterColumns(meta: EntityMetadata): EntityProperty[] {
  return meta.props.filter((p) => p.persist !== false && !p.formula &&
    (p.kind === ReferenceKind.SCALAR || p.kind === ReferenceKind.MANY_TO_ONE || (p.kind === ReferenceKind.ONE_TO_ONE && p.owner)) &&
    (!p.embedded || !p.object));
}

/** What ids the key holds: subject ids travel as strings, and keyValue() turns them back (an id no row can have matches nothing). */
function keyKindOf(meta: EntityMetadata, dialect: SqlDialect | undefined): KeyKind {
  const key = meta.properties[meta.primaryKeys[0] as never];
  if (key?.runtimeType === 'number') return 'integer';
  // MikroORM's BigIntType maps a 64-bit column to a string (or a bigint): ids go as the strings they are.
  const columnType = key?.columnTypes?.[0]?.toLowerCase() ?? '';
  if (BIGINT_COLUMN_TYPES.has(columnType)) return 'bigint';
  // A uuid key is one id in any case where the database compares it so (uuidFoldsCase); SQLite's text compares it as spelled.
  const declared = String(typeof key?.type === 'string' ? key.type : key?.customType?.constructor?.name ?? '').toLowerCase();
  if (columnType === 'uuid' || declared === 'uuid' || declared === 'uuidtype') return uuidFoldsCase(dialect, columnType) ? 'uuid' : 'uuid-text';
  return 'text';
}

/** A column's type family: its SQL type where MikroORM knows it (a decimal mapped to a string is numeric), else its runtime type. */
function columnKindOf(prop: EntityProperty): ColumnKind {
  if (prop.enum) return 'other';
  const sql = prop.columnTypes?.[0] ? sqlColumnKind(prop.columnTypes[0]) : 'other';
  if (sql !== 'other') return sql;
  const runtime = String(prop.runtimeType ?? '').toLowerCase();
  return runtime === 'number' || runtime === 'bigint' ? 'number' : runtime === 'string' ? 'text'
    : runtime === 'boolean' ? 'boolean' : runtime === 'date' ? 'date' : 'other';
}

/** Whether a relation's value on a loaded row is loaded: a reference or collection MikroORM has not initialized is not. */
function relationLoaded(value: unknown): boolean {
  if (value === undefined) return false;
  if (value === null || typeof value !== 'object') return true;
  if (Utils.isCollection(value)) return (value as Collection<object>).isInitialized();
  if (Reference.isReference(value)) return value.isInitialized();
  return Utils.isEntity(value) ? wrap(value, true).isInitialized() : true;
}
