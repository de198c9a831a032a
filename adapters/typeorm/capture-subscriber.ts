import type {
  EntityManager, EntityMetadata, EntitySubscriberInterface, InsertEvent, QueryRunner, RecoverEvent, RemoveEvent, SoftRemoveEvent,
  TransactionCommitEvent, TransactionRollbackEvent, UpdateEvent,
} from 'typeorm';
import type { ChangeOp, CommitListener, EntityClass } from '../../lib/ports';
import type { Logger } from '../../lib/logger';
import { ChangedKey, ChangeLog } from './change-log';
import type { TypeOrmOutboxStore } from './outbox-store';
import { KeyRead, relationsWithoutKey, snapshotOf, withRelationKeys } from './snapshot';
import { TurnBatches } from './turn-batches';

/**
 * Collects changes of watched entities per transaction (per QueryRunner, one log per savepoint) and hands
 * them to the listener after the outermost commit; a rollback drops its log. Writes outside a transaction
 * are already committed when TypeORM reports them, so they go out at once (those one call reports together, on
 * the next microtask: see collectLoose). TypeORM awaits each hook, so a
 * write call resolves only after its changes are enqueued. With `outbox`, the changes are also inserted into
 * `sync_machine_outbox` through the write's own query runner just before its outermost commit (those of savepoints
 * rolled back are dropped with their logs), so they commit with the write; the listener then only has to wake
 * the relay.
 */
export class CaptureSubscriber implements EntitySubscriberInterface {
  private readonly frames = new WeakMap<QueryRunner, ChangeLog[]>();
  private readonly warned = new Set<string>();
  /** Rows about to be removed, with the relation keys their snapshot needs (see keepRelationKeys). */
  private readonly keyed = new WeakMap<object, object>();
  /** Per transaction (its manager), the rows about to be removed whose relation keys are read together (see keepRelationKeys). */
  private readonly keyReads = new TurnBatches<EntityManager, Map<EntityMetadata, KeyRead[]>>(() => new Map(), async (manager, byEntity) => {
    for (const [metadata, rows] of byEntity) {
      for (const [removed, copy] of await withRelationKeys(manager, metadata, rows)) this.keyed.set(removed, copy);
    }
  });
  /** Per entity, the watched entities its writes are changes of (see watchedAs). */
  private readonly inherited = new WeakMap<EntityMetadata, EntityMetadata[]>();
  /** Changes of writes outside a transaction reported in this turn, per DataSource, enqueued together (see collectLoose). */
  private readonly loose = new TurnBatches<EntityManager, ChangeLog>(() => new ChangeLog(), async (manager, log) => {
    const changes = log.changes();
    if (this.outbox) await this.outbox.write(manager, changes);
    await this.listener(changes);
  });

  constructor(
    private readonly watched: ReadonlySet<EntityClass>,
    private readonly listener: CommitListener,
    private readonly logger: Logger,
    private readonly outbox?: TypeOrmOutboxStore,
    /** CaptureOptions.fields: a write whose rows cannot be seen that sets none of these is no change to warn of. */
    private readonly fields?: ReadonlyMap<EntityClass, ReadonlySet<string>>,
  ) {}

  afterInsert(event: InsertEvent<object>) {
    if (event.metadata.isJunction) {
      // entityId: TypeORM 0.3.18 and later; relation().add() gives the row as the entity.
      return this.recordLink(event.queryRunner, event.metadata, (event as { entityId?: unknown }).entityId ?? event.entity, UNNAMED_LINKS.added);
    }
    return this.record(event.queryRunner, event.metadata, 'insert', event.entity, undefined, 'insert');
  }

  afterUpdate(event: UpdateEvent<object>) {
    if (this.watchedAs(event.metadata).length === 0) return;
    const relations = event.updatedRelations.length === 0 ? event.updatedRelations : stillEmptyDropped(event);
    let keys: ChangedKey[] = relations.length === 0 ? event.updatedColumns : [...event.updatedColumns, ...relations];
    // save() of a row whose nullable relation is null: TypeORM writes the null again, every time, and reports the
    // relation updated; with nothing else changed, nothing did.
    if (keys.length === 0 && event.updatedRelations.length > 0) return;
    // A cascaded save() of a parent's one-to-many collection that took this row from another parent: TypeORM gives
    // the row and the row as loaded, and reports nothing changed; only its keys say the move (a trial's invoice line
    // moved with nothing published and nothing said).
    if (keys.length === 0 && event.entity && event.databaseEntity) keys = movedRelations(event.metadata, event.entity, event.databaseEntity);
    const row = event.databaseEntity ?? event.entity;
    // The row moved to another parent: its values before (the row save() loaded), so that the subjects it left are
    // mapped too.
    const before = event.databaseEntity && movesRow(keys) ? snapshotOf(event.metadata, event.databaseEntity) : undefined;
    // No entity at all: a save() of the other side of a relation moved this row (a one-to-many collection, an
    // inverse one-to-one: TypeORM builds that update from the parent and reports neither the row nor what
    // changed). update() reports the values it set.
    return this.record(event.queryRunner, event.metadata, 'update', row as object | undefined, keys, row === undefined
      ? ONE_TO_MANY_PATH : 'update() (or a QueryBuilder update, increment(), decrement())', before);
  }

  beforeRemove(event: RemoveEvent<object>) {
    return this.keepRelationKeys(event);
  }

  beforeSoftRemove(event: SoftRemoveEvent<object>) {
    return this.keepRelationKeys(event);
  }

  afterRemove(event: RemoveEvent<object>) {
    if (event.metadata.isJunction) {
      return this.recordLink(event.queryRunner, event.metadata, event.entityId ?? event.databaseEntity ?? event.entity, UNNAMED_LINKS.removed);
    }
    // A row that a parent's save() dropped from its collection is deleted the same way, with no row either: said so
    // when the entity has such a relation (a trial read "delete()" for an orphan its app never deleted by hand).
    const orphans = event.metadata.manyToOneRelations.some((r) => r.orphanedRowAction === 'delete');
    return this.recordIdentified(event, 'remove', orphans ? ORPHAN_PATH : 'delete() (or a QueryBuilder delete)');
  }

  afterSoftRemove(event: SoftRemoveEvent<object>) {
    return this.recordIdentified(event, 'remove', 'softDelete() (or a QueryBuilder softDelete)');
  }

  /** recover() brings a soft-removed row back: for the pipeline it is a new row (all keys, passes every field filter). */
  afterRecover(event: RecoverEvent<object>) {
    return this.recordIdentified(event, 'insert', 'restore() (or a QueryBuilder restore)');
  }

  /**
   * The outermost commit of a transaction is about to run: its changes go into the outbox in its last statements.
   * An insert per written row, as each hook ran, made a 1,000-row transaction 1.6 times as slow on PostgreSQL.
   */
  async beforeTransactionCommit(event: TransactionCommitEvent) {
    const qr = event.queryRunner;
    if (!this.outbox || depthOf(qr) !== 1) return;
    const log = this.frames.get(qr)?.[0];
    if (log) await this.outbox.write(qr.manager, log.changes());
  }

  async afterTransactionCommit(event: TransactionCommitEvent) {
    const qr = event.queryRunner;
    const frames = this.frames.get(qr);
    if (!frames || frames.length <= depthOf(qr)) return;
    const log = frames.pop()!;
    if (frames.length > 0) {
      frames[frames.length - 1].append(log);
      return;
    }
    this.frames.delete(qr);
    const changes = log.changes();
    if (changes.length > 0) await this.listener(changes);
  }

  afterTransactionRollback(event: TransactionRollbackEvent) {
    const frames = this.frames.get(event.queryRunner);
    if (frames && frames.length > depthOf(event.queryRunner)) frames.pop();
    if (frames?.length === 0) this.frames.delete(event.queryRunner);
  }

  /**
   * A removal's snapshot names each to-one relation by its key (`variant.product.id`). An entity loaded without
   * its relations, and without a foreign-key property, does not hold that key, and after the DELETE it cannot be
   * read: read it now, in the same transaction. Only for watched entities that lack a key. remove() of many rows
   * calls this hook for each in one synchronous loop and awaits them together: their keys are read together, on
   * the next microtask, a query per entity and 500 rows. A query per row made a 1,000-row remove() 4 (PostgreSQL) to
   * 8 (SQLite) times as slow, and ran them all at once on the transaction's one connection.
   */
  private keepRelationKeys(event: RemoveEvent<object> | SoftRemoveEvent<object>): Promise<void> | void {
    const row = (event.databaseEntity ?? event.entity) as object | undefined;
    if (this.watchedAs(event.metadata).length === 0 || !row) return;
    const missing = relationsWithoutKey(event.metadata, row);
    const id = event.entityId ?? event.metadata.primaryColumns[0]?.getEntityValue(row);
    if (missing.length === 0 || id === undefined || id === null) return;
    const { batch: byEntity, done } = this.keyReads.join(event.manager);
    let rows = byEntity.get(event.metadata);
    if (!rows) byEntity.set(event.metadata, rows = []);
    rows.push({ row, id, missing });
    return done;
  }

  private recordIdentified(event: RemoveEvent<object> | SoftRemoveEvent<object> | RecoverEvent<object>, op: ChangeOp, path: string) {
    // remove(), softRemove(), recover(). After remove(), event.entity has lost its id; databaseEntity (loaded
    // before the delete) and entityId still have it.
    const loaded = (event.databaseEntity ?? event.entity) as object | undefined;
    const row = (loaded && this.keyed.get(loaded)) ?? loaded;
    if (row && event.entityId !== undefined && event.metadata.primaryColumns.length === 1) {
      const pk = event.metadata.primaryColumns[0];
      if (pk.getEntityValue(row) === undefined) pk.setEntityValue(row, event.entityId);
    }
    return this.record(event.queryRunner, event.metadata, op, row, undefined, path);
  }

  /**
   * A many-to-many link added or removed: save() of either side with a changed collection, or a QueryBuilder
   * relation().add()/remove(). TypeORM reports only the junction row (the entities' own rows did not change), so
   * each side it links that is watched becomes an update of its relation property (`tags`), which `fields` can name.
   * Where TypeORM does not name the row (links a save() adds, before 0.3.18; relation().remove()), it is warned.
   */
  private recordLink(qr: QueryRunner | undefined, junction: EntityMetadata, link: unknown, unnamed: UnnamedLinks): Promise<void> | void {
    const waits: Array<Promise<void>> = [];
    for (const columns of [junction.ownerColumns, junction.inverseColumns]) {
      const side = columns[0]?.referencedColumn?.entityMetadata;
      if (!side || typeof side.target !== 'function' || !this.watched.has(side.target)) continue;
      const relation = side.relations.find((r) => r.isManyToMany && r.junctionEntityMetadata === junction);
      if (!link || typeof link !== 'object') {
        if (relation) this.warnUncaptured(side.name, unnamed.path(relation.propertyPath), unnamed.instead);
        continue;
      }
      const id = (link as Record<string, unknown>)[columns[0].propertyName];
      // A side without the property (a one-way relation's inverse) has nothing of the link in its rows.
      if (!relation || columns.length !== 1 || !columns[0].referencedColumn!.isPrimary || id === undefined || id === null) continue;
      const row = {};
      side.primaryColumns[0].setEntityValue(row, id);
      const wait = this.record(qr, side, 'update', row, [relation], `a link of ${side.name}.${relation.propertyPath}`);
      if (wait) waits.push(wait);
    }
    if (waits.length > 0) return Promise.all(waits).then(() => undefined);
  }

  /**
   * Synchronous unless it has to wait (a write outside a transaction, to be enqueued): TypeORM
   * awaits what every hook returns, and a promise per saved row was a measurable part of the capture overhead.
   */
  private record(
    qr: QueryRunner | undefined, metadata: EntityMetadata, op: ChangeOp, row: object | undefined,
    updatedKeys: readonly ChangedKey[] | undefined, path: string, before?: Record<string, unknown>,
  ): Promise<void> | void {
    const as = this.watchedAs(metadata);
    if (as.length === 0) return;
    const id = row ? metadata.primaryColumns[0].getEntityValue(row) : undefined;
    if (id === undefined || id === null) {
      // update() reports the values it set as the row: setting only columns no listener names changes nothing.
      if (op === 'update' && row && as.every((m) => this.setsNoField(m, row))) return;
      this.warnUncaptured(metadata.name, path, undefined, op === 'remove');
      return;
    }
    // One slot for both: a removal's snapshot, an update's earlier values (see ChangeLog.add).
    const snapshot = op === 'remove' ? snapshotOf(metadata, row!) : before;
    if (!qr || !qr.isTransactionActive) return this.collectLoose(as, id, op, updatedKeys, snapshot);
    for (const watched of as) this.collect(qr, watched, id, op, updatedKeys, snapshot);
  }

  /**
   * The watched entities a write of this entity's rows is a change of: itself when watched, and each entity it
   * inherits from that is (a single-table child, `Post extends Content`, for a machine that listens to Content).
   * TypeORM reports the child's metadata, which a check of the class alone missed. Cached: this runs per write.
   */
  private watchedAs(metadata: EntityMetadata): EntityMetadata[] {
    let as = this.inherited.get(metadata);
    if (!as) {
      as = metadata.inheritanceTree
        .filter((cls) => this.watched.has(cls))
        .map((cls) => (cls === metadata.target ? metadata : metadata.connection.getMetadata(cls)));
      this.inherited.set(metadata, as);
    }
    return as;
  }

  /**
   * A write outside a transaction is committed when TypeORM reports it, but insert() (or update(), delete()) of
   * many rows reports them one hook each, in one synchronous loop, and awaits them together: enqueued one by one,
   * a 1,000-row insert() on PostgreSQL took 54 ms instead of 18. They go out together on the next microtask, after
   * the loop, and every hook resolves once they are in Redis (or in the outbox and Redis).
   */
  private collectLoose(
    as: EntityMetadata[], id: unknown, op: ChangeOp, keys: readonly ChangedKey[] | undefined,
    snapshot: Record<string, unknown> | undefined,
  ): Promise<void> {
    const { batch: log, done } = this.loose.join(as[0].connection.manager);
    for (const watched of as) log.add(watched, id, op, keys, snapshot);
    return done;
  }

  /** Whether `set` (update()'s values) names no property the listeners of `metadata`'s entity name in `fields`. */
  private setsNoField(metadata: EntityMetadata, set: object): boolean {
    const fields = this.fields?.get(metadata.target as EntityClass);
    return fields !== undefined && Object.keys(set).every((key) => !fields.has(key));
  }

  /** Into the transaction's open log. */
  private collect(
    qr: QueryRunner, metadata: EntityMetadata, id: unknown, op: ChangeOp,
    keys: readonly ChangedKey[] | undefined, snapshot: Record<string, unknown> | undefined,
  ): void {
    let frames = this.frames.get(qr);
    if (!frames) this.frames.set(qr, frames = []);
    // Subscribed mid-transaction: open the logs we missed.
    while (frames.length < depthOf(qr)) frames.push(new ChangeLog());
    frames[frames.length - 1].add(metadata, id, op, keys, snapshot);
  }

  /** `deleted`: the rows are gone, so notifyChanged of them maps to nothing: the subjects they fed are named instead. */
  private warnUncaptured(entity: string, path: string, instead?: string, deleted = false): void {
    if (this.warned.has(`${entity} ${path}`)) return;
    this.warned.add(`${entity} ${path}`);
    instead ??= path === ONE_TO_MANY_PATH ? `Set the relation on the ${entity} itself and save() it`
      : path === ORPHAN_PATH ? `remove() the ${entity} rows themselves before the parent's save() (or use remove() instead of delete())`
      : 'Use save()/remove()';
    // notifyChanged(OrderLine, deletedIds), as this said, found no snapshot to map and did nothing (a trial).
    const notify = deleted
      ? 'or after such writes call notifyChanged(Subject, ids) for the subjects those rows fed (a deleted row cannot be ' +
        `mapped to them any more); where ${entity} is a machine's subject itself, notifyChanged(${entity}, ids) unpublishes them`
      : `or call notifyChanged(${entity}, ids) after such writes`;
    this.logger.warn(
      `${entity} was written through ${path}, for which TypeORM reports no ids: sync-machine cannot see which rows ` +
      `changed. ${instead}, ${notify}.`);
  }
}

/**
 * Many-to-many links whose rows TypeORM does not name, as the warning says them and the way to have them captured:
 * those a save() adds before 0.3.18, and those removed by a QueryBuilder's relation().remove() (or, in older
 * releases, by a save()).
 */
interface UnnamedLinks {
  path(relation: string): string;
  instead: string;
}

const UNNAMED_LINKS: Record<'added' | 'removed', UnnamedLinks> = {
  added: {
    path: (relation) => `a save() adding a many-to-many link (${relation}) in a TypeORM before 0.3.18`,
    instead: 'Upgrade TypeORM to 0.3.18 or later (it names them)',
  },
  removed: {
    path: (relation) => `a QueryBuilder relation('${relation}').remove() (or a save() removing a link, before TypeORM 0.3.18)`,
    instead: 'Change links with save() in TypeORM 0.3.18 or later (it names them)',
  },
};

const ONE_TO_MANY_PATH = 'a save() of the other side of its relation (a one-to-many collection such as ' +
  'customer.orders = [...], or the inverse side of a one-to-one)';
const ORPHAN_PATH = "delete() (or a QueryBuilder delete), or a parent's save() whose one-to-many collection left the row " +
  "out (orphanedRowAction: 'delete')";

/**
 * The relations a save() reports updated, less those empty before and after: TypeORM's save() reports a nullable
 * to-one relation that is null (and writes it) on every save of its row, changed or not. Without the row as loaded
 * (update()), all of them.
 */
function stillEmptyDropped(event: UpdateEvent<object>): UpdateEvent<object>['updatedRelations'] {
  const loaded = event.databaseEntity;
  const entity = event.entity;
  if (!loaded || !entity) return event.updatedRelations;
  // The loaded row holds the relation as its key columns (`{ id: null }` when it has none).
  const emptyKeys = (value: unknown) => value === null || value === undefined ||
    (typeof value === 'object' && Object.values(value).every((key) => key === null || key === undefined));
  return event.updatedRelations.filter((relation) => {
    const now = relation.getEntityValue(entity as object);
    return !((now === null || now === undefined) && emptyKeys(relation.getEntityValue(loaded)));
  });
}

/**
 * The to-one relations this entity owns whose keys differ between the row as saved and as loaded; all of them when
 * neither holds the key (a relation with no column of its own, not loaded): mapped from both, nothing is missed.
 */
function movedRelations(metadata: EntityMetadata, row: object, loaded: object): ChangedKey[] {
  const owned = metadata.relations.filter((relation) => relation.isManyToOne || relation.isOneToOneOwner);
  const moved = owned.filter((relation) =>
    relation.joinColumns.some((join) => {
      // The key as the relation holds it, or as a column of its own (`invoiceId`) on the same database column.
      const columns = [join, ...metadata.columns.filter((c) => c !== join && c.databaseName === join.databaseName)];
      return columns.some((column) => {
        const [now, was] = [column.getEntityValue(row), column.getEntityValue(loaded)];
        return now !== undefined && was !== undefined && String(now ?? '') !== String(was ?? '');
      });
    }));
  return moved.length > 0 ? moved : owned;
}

/** Whether an update's keys change a to-one relation the row owns: the relation itself, or its foreign-key column. */
function movesRow(keys: readonly ChangedKey[]): boolean {
  for (const key of keys) {
    if (typeof key === 'string') continue;
    const k = key as { relationMetadata?: unknown; isManyToOne?: boolean; isOneToOneOwner?: boolean };
    if (k.relationMetadata || k.isManyToOne || k.isOneToOneOwner) return true;
  }
  return false;
}

/** TypeORM keeps the savepoint depth on every query runner, outside the public interface. */
function depthOf(qr: QueryRunner): number {
  return (qr as QueryRunner & { transactionDepth?: number }).transactionDepth ?? (qr.isTransactionActive ? 1 : 0);
}
