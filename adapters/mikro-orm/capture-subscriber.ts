import {
  ChangeSetType, helper, ReferenceKind, wrap, type ChangeSet, type Collection, type EntityManager, type EntityMetadata,
  type EventArgs, type EventSubscriber, type FlushEventArgs, type TransactionEventArgs, type UnitOfWork,
} from '@mikro-orm/core';
import { ChangeFrame, mergeChange } from '../../lib/changes';
import type { CapturedChange, ChangeOp, CommitListener, EntityClass } from '../../lib/ports';
import type { MikroOrmOutboxStore } from './outbox-store';
import { linksInto, readLinksInto, type LinkInto } from './removed-links';
import { columnProperties, keyOf, snapshotOf } from './snapshot';

/** A knex transaction as MikroORM hands it out; savepoints point to the transaction they live in. */
interface Transaction {
  parentTransaction?: Transaction;
  rollback(...args: unknown[]): unknown;
}

/** Changes of one transaction or savepoint, one list per flush, in the order they were flushed. */
interface Segment {
  trx: Transaction;
  flushes: CapturedChange[][];
}

const OPS: Partial<Record<ChangeSetType, ChangeOp>> = {
  [ChangeSetType.CREATE]: 'insert',
  [ChangeSetType.UPDATE]: 'update',
  [ChangeSetType.UPDATE_EARLY]: 'update',
  [ChangeSetType.DELETE]: 'remove',
  [ChangeSetType.DELETE_EARLY]: 'remove',
};

/** Removed references read per query before their delete (readRemovedRows). */
const REMOVED_ROWS_PER_QUERY = 1_000;

/**
 * Collects the change sets of watched entities and hands them to the listener once they are committed:
 * - `em.flush()` outside a transaction runs in MikroORM's own transaction, which reports its unit of work on
 *   `afterTransactionCommit`: the changes go out there (before `flush()` resolves), and nothing on rollback;
 * - flushes inside `em.transactional()` / `em.begin()` are buffered per root transaction (they fire
 *   `afterFlush` before the commit) and go out on its `afterTransactionCommit`; a rollback drops them;
 * - savepoints (nested transactions) fire no events: their changes join the root's buffer, and a savepoint
 *   that rolls back drops its own;
 * - a flush with no transaction at all (`implicitTransactions: false`) is committed when `afterFlush` fires.
 * MikroORM awaits each listener, so the write call resolves only after its changes are enqueued.
 * With `outbox`, each change is also inserted into `sync_machine_outbox` in the transaction (or savepoint) that
 * flushed it, before the commit: `afterFlush` inside a transaction, `beforeTransactionCommit` for the flush's own.
 */
export class CaptureSubscriber implements EventSubscriber {
  private active = true;
  /** Removed entities' rows as they were loaded, taken before the delete runs. */
  private readonly removed = new WeakMap<object, Record<string, unknown>>();
  /** Flushes whose own transaction already reported (or dropped) them. */
  private readonly settled = new WeakSet<UnitOfWork>();
  private readonly buffers = new WeakMap<Transaction, Segment[]>();
  private readonly rolledBack = new WeakSet<Transaction>();
  private readonly watchedSavepoints = new WeakSet<Transaction>();
  /** Many-to-many links a flush adds or removes, read in onFlush (before the flush retakes the snapshots). */
  private readonly links = new WeakMap<UnitOfWork, CapturedChange[]>();
  /** Per entity, the watched entities' many-to-many links to it, which its removal changes (see linksInto). */
  private readonly linksInto = new WeakMap<EntityMetadata, LinkInto[]>();
  /** Per entity, the watched entities its changes are changes of (see watchedAs). */
  private readonly inherited = new WeakMap<EntityMetadata, EntityClass[]>();

  constructor(
    private readonly watched: ReadonlySet<EntityClass>, private readonly listener: CommitListener, private readonly outbox?: MikroOrmOutboxStore,
  ) {}

  /** Stops for good; event managers cloned by open transactions keep the subscriber, so it must go quiet itself. */
  deactivate(): void {
    this.active = false;
  }

  onFlush({ em, uow }: FlushEventArgs): Promise<void> | void {
    this.settled.delete(uow);
    this.links.delete(uow);
    if (!this.active) return;
    const collections = uow.getCollectionUpdates();
    if (collections.length > 0) this.links.set(uow, this.linksOf(collections));
    const changeSets = uow.getChangeSets();
    let linked: Map<LinkInto[], unknown[]> | undefined;
    let unloaded: Map<EntityMetadata, object[]> | undefined;
    // Indexed: these loops run once per flush, mostly before V8 optimizes them, where `for...of` made an iterator
    // result per change set.
    for (let i = 0; i < changeSets.length; i++) {
      const cs = changeSets[i];
      if (OPS[cs.type] !== 'remove') continue;
      if (this.isWatched(cs.meta)) {
        this.removed.set(cs.entity, snapshotOf(cs.meta, uow.getOriginalEntityData(cs.entity) ?? cs.entity));
        if (!wrap(cs.entity, true).isInitialized()) {
          unloaded ??= new Map();
          const entities = unloaded.get(cs.meta);
          if (entities) entities.push(cs.entity);
          else unloaded.set(cs.meta, [cs.entity]);
        }
      }
      const links = this.linksIntoOf(em, cs.meta);
      const key = links.length > 0 ? helper(cs.entity).getPrimaryKey() : undefined;
      if (key === undefined || key === null || typeof key === 'object') continue;
      linked ??= new Map();
      const keys = linked.get(links) ?? [];
      linked.set(links, keys);
      keys.push(key);
    }
    if (linked || unloaded) return this.readBeforeDelete(em, uow, linked, unloaded);
  }

  private async readBeforeDelete(
    em: EntityManager, uow: UnitOfWork, linked?: Map<LinkInto[], unknown[]>, unloaded?: Map<EntityMetadata, object[]>,
  ): Promise<void> {
    if (unloaded) await this.readRemovedRows(em, unloaded);
    if (linked) await this.readRemovedLinks(em, uow, linked);
  }

  /**
   * The rows of references removed without being loaded (`em.remove(em.getReference(Lesson, 50))`), read before
   * the flush deletes them: their snapshots held only the key, and a mapper of the row's relation
   * (`lesson.course.id`) failed on every attempt, so the course stayed stale (a trial, 3 of 3). TypeORM's capture
   * reads such a row's keys before its DELETE too.
   */
  private async readRemovedRows(em: EntityManager, unloaded: Map<EntityMetadata, object[]>): Promise<void> {
    for (const [meta, entities] of unloaded) {
      const pk = meta.primaryKeys[0];
      const keys = entities.map((entity) => helper(entity).getPrimaryKey());
      const byKey = new Map(entities.map((entity, i) => [String(keys[i]), entity]));
      // In parts: SQLite takes at most 32,766 parameters a statement.
      for (let i = 0; i < keys.length; i += REMOVED_ROWS_PER_QUERY) {
        const rows = await em.getDriver().find<object>(meta.className,
          { [pk]: { $in: keys.slice(i, i + REMOVED_ROWS_PER_QUERY) } } as never, { ctx: em.getTransactionContext() } as never);
        for (const row of rows) {
          const entity = byKey.get(String((row as Record<string, unknown>)[pk]));
          if (entity) this.removed.set(entity, snapshotOf(meta, row));
        }
      }
    }
  }

  /** The links of removed entities to watched ones, read before the flush deletes them (see linksInto). */
  private async readRemovedLinks(em: EntityManager, uow: UnitOfWork, linked: Map<LinkInto[], unknown[]>): Promise<void> {
    const changes = this.links.get(uow) ?? [];
    for (const [links, keys] of linked) changes.push(...await readLinksInto(em, links, keys));
    if (changes.length > 0) this.links.set(uow, changes);
  }

  /** Cached per entity: most entities have no such link, and this runs per removed row. */
  private linksIntoOf(em: EntityManager, meta: EntityMetadata): LinkInto[] {
    let links = this.linksInto.get(meta);
    if (!links) {
      links = linksInto(meta, Object.values(em.getMetadata().getAll()), (m) => this.watchedAs(m));
      this.linksInto.set(meta, links);
    }
    return links;
  }

  async afterFlush({ em, uow }: FlushEventArgs): Promise<void> {
    if (this.settled.has(uow)) {
      this.settled.delete(uow);
      return;
    }
    const changes = this.changesOf(uow);
    if (changes.length === 0) return;
    const trx = em.getTransactionContext<Transaction>();
    if (this.outbox) await this.outbox.write(em, changes, trx as never);
    if (trx) this.buffer(trx, changes);
    else await this.emit(changes);
  }

  /** The transaction em.flush() opened for itself, about to commit: its changes join it in the outbox. */
  async beforeTransactionCommit({ em, uow, transaction }: TransactionEventArgs): Promise<void> {
    if (!this.outbox || !uow) return;
    await this.outbox.write(em, this.changesOf(uow), transaction);
  }

  async afterTransactionCommit({ uow, transaction }: TransactionEventArgs): Promise<void> {
    if (uow) {
      // The transaction em.flush() opened for itself: its unit of work is done.
      this.settled.add(uow);
      await this.emit(this.changesOf(uow));
      return;
    }
    const segments = transaction ? this.buffers.get(transaction as Transaction) : undefined;
    if (!segments) return;
    this.buffers.delete(transaction as Transaction);
    const flushes = segments.filter((segment) => !this.isRolledBack(segment.trx)).flatMap((segment) => segment.flushes);
    // A flush has one change set per entity object, so a lone flush (most transactions) needs no merge: merging
    // its 1,000 changes into a keyed frame again was a third of what this subscriber added to such a transaction.
    // A row removed and inserted again as a new object in one flush goes as two changes, which Redis merges as it
    // would those of two commits.
    if (flushes.length === 1) return this.emit(flushes[0]);
    const frame: ChangeFrame = new Map();
    for (const changes of flushes) for (const change of changes) mergeChange(frame, change);
    await this.emit([...frame.values()]);
  }

  afterTransactionRollback({ uow, transaction }: TransactionEventArgs): void {
    if (uow) this.settled.add(uow);
    else if (transaction) this.buffers.delete(transaction as Transaction);
  }

  /** em.upsert() reports only this: an insert or an update, which one is unknown, of every column. */
  async afterUpsert({ em, entity, meta }: EventArgs<object>): Promise<void> {
    if (!meta || !this.isWatched(meta)) return;
    const id = keyOf(meta, entity);
    if (id === undefined) return;
    const changes = this.watchedAs(meta).map((cls) => ({ entity: cls, id, op: 'update' as const, changedKeys: columnNames(meta) }));
    const trx = em.getTransactionContext<Transaction>();
    if (this.outbox) await this.outbox.write(em, changes, trx as never);
    if (trx) this.buffer(trx, changes);
    else await this.emit(changes);
  }

  /** The flush's change sets of watched entities, and the links it changed (see linksOf). */
  private changesOf(uow: UnitOfWork): CapturedChange[] {
    const changes = this.changeSetsOf(uow.getChangeSets());
    const links = this.links.get(uow);
    return links && this.active ? changes.concat(links) : changes;
  }

  /**
   * A many-to-many collection changed (`tags.add(tag)`, on either side): MikroORM writes the pivot table and
   * makes no change set for either entity, as their own rows did not change. Each watched entity on either
   * end becomes an update of its collection property (`tags`), which `fields` can name: the collection's owner,
   * and each item added or removed (by the inverse property). Entities new in the flush have no key yet; their
   * insert is the change.
   */
  private linksOf(collections: Array<Collection<object>>): CapturedChange[] {
    const links: CapturedChange[] = [];
    for (const coll of collections) {
      const property = coll.property;
      if (property.kind !== ReferenceKind.MANY_TO_MANY) continue;
      this.addLink(links, coll.owner, property.name);
      const inverse = property.inversedBy ?? property.mappedBy;
      if (!inverse) continue;
      const before = coll.getSnapshot() ?? [];
      const after = coll.getItems(false);
      for (const item of after) if (!before.includes(item)) this.addLink(links, item, inverse);
      for (const item of before) if (!after.includes(item)) this.addLink(links, item, inverse);
    }
    return links;
  }

  private addLink(links: CapturedChange[], entity: object, property: string): void {
    const meta = helper(entity).__meta as EntityMetadata;
    const as = this.watchedAs(meta);
    const id = as.length > 0 ? keyOf(meta, entity) : undefined;
    if (id === undefined) return;
    for (const cls of as) links.push({ entity: cls, id, op: 'update', changedKeys: [property] });
  }

  private changeSetsOf(changeSets: ChangeSet<object>[]): CapturedChange[] {
    const changes: CapturedChange[] = [];
    if (!this.active) return changes;
    for (let i = 0; i < changeSets.length; i++) {
      const cs = changeSets[i];
      const op = OPS[cs.type];
      if (!op) continue;
      const as = this.watchedAs(cs.meta);
      if (as.length === 0) continue;
      const snapshot = op === 'remove' ? this.removed.get(cs.entity) ?? snapshotOf(cs.meta, cs.entity) : undefined;
      const id = keyOf(cs.meta, cs.entity) ?? (snapshot && keyOf(cs.meta, snapshot));
      if (id === undefined) continue;
      const changedKeys = op === 'update' ? changedKeysOf(cs.meta, cs.payload) : columnNames(cs.meta);
      // The row moved to another parent: its values before (the change set's original data), so that the subjects
      // it left are mapped too.
      const before = op === 'update' && cs.originalEntity && movesRow(cs.meta, cs.payload)
        ? [snapshotOf(cs.meta, cs.originalEntity)] : undefined;
      for (let j = 0; j < as.length; j++) changes.push({ entity: as[j], id, op, snapshot, changedKeys, before });
    }
    return changes;
  }

  private buffer(trx: Transaction, changes: CapturedChange[]): void {
    let root = trx;
    while (root.parentTransaction) root = root.parentTransaction;
    if (trx !== root) this.watchSavepoint(trx);
    const segments = this.buffers.get(root) ?? [];
    this.buffers.set(root, segments);
    let last = segments[segments.length - 1];
    if (last?.trx !== trx) {
      last = { trx, flushes: [] };
      segments.push(last);
    }
    last.flushes.push(changes);
  }

  /**
   * MikroORM rolls a savepoint back through its knex transaction and reports nothing: wrap that transaction's
   * rollback() to learn of it. The wrapper only takes note, then does what the original does.
   */
  private watchSavepoint(trx: Transaction): void {
    if (this.watchedSavepoints.has(trx)) return;
    this.watchedSavepoints.add(trx);
    const rollback = trx.rollback;
    trx.rollback = (...args: unknown[]) => {
      this.rolledBack.add(trx);
      return rollback.apply(trx, args);
    };
  }

  private isRolledBack(trx: Transaction | undefined): boolean {
    for (let t = trx; t; t = t.parentTransaction) if (this.rolledBack.has(t)) return true;
    return false;
  }

  private isWatched(meta: EntityMetadata): boolean {
    return this.watchedAs(meta).length > 0;
  }

  /**
   * The watched entities a change of this entity is a change of: itself when watched, and each entity it
   * inherits from that is (a single-table child, `Post extends Content`, for a machine that listens to Content).
   * MikroORM reports the child's metadata, which a check of the class alone missed. Cached: this runs per change.
   */
  private watchedAs(meta: EntityMetadata): EntityClass[] {
    let as = this.inherited.get(meta);
    if (!as) {
      as = [];
      for (let cls = meta.class as unknown; typeof cls === 'function' && cls !== Function.prototype; cls = Object.getPrototypeOf(cls)) {
        if (this.watched.has(cls as EntityClass)) as.push(cls as EntityClass);
      }
      this.inherited.set(meta, as);
    }
    return as;
  }

  private async emit(changes: CapturedChange[]): Promise<void> {
    if (changes.length > 0 && this.active) await this.listener(changes);
  }
}

const toOnesOf = new WeakMap<EntityMetadata, Set<string>>();

/** Whether an update's payload changes a to-one relation the row owns (its foreign key). */
function movesRow(meta: EntityMetadata, payload: object): boolean {
  let toOnes = toOnesOf.get(meta);
  if (!toOnes) {
    toOnes = new Set(meta.relations
      .filter((p) => p.kind === ReferenceKind.MANY_TO_ONE || (p.kind === ReferenceKind.ONE_TO_ONE && p.owner))
      .map((p) => p.name));
    toOnesOf.set(meta, toOnes);
  }
  if (toOnes.size === 0) return false;
  for (const key in payload) if (toOnes.has(key)) return true;
  return false;
}

const columnNamesOf = new WeakMap<EntityMetadata, string[]>();

/** Every column's property name (the keys of an insert, a removal, an upsert), once per entity and shared. */
function columnNames(meta: EntityMetadata): string[] {
  let names = columnNamesOf.get(meta);
  if (!names) columnNamesOf.set(meta, names = columnProperties(meta).map((p) => p.name));
  return names;
}

/** Key lists of one changed property, made once per property and shared: most updates change one column. */
const singleKeys = new Map<string, string[]>();

/**
 * The properties an update's payload changes. The pipeline never writes into a change's keys (lib/changes), so the
 * one-property list is shared, where `Object.keys` made a new array per changed row.
 */
function changedKeysOf(meta: EntityMetadata, payload: object): string[] {
  const embedded = embeddedRootsOf(meta);
  let only: string | undefined;
  for (const key in payload) {
    if (only !== undefined) return embedded ? withRoots(Object.keys(payload), embedded) : Object.keys(payload);
    only = key;
  }
  if (only === undefined) return [];
  if (embedded?.has(only)) return withRoots([only], embedded);
  let keys = singleKeys.get(only);
  if (!keys) singleKeys.set(only, keys = [only]);
  return keys;
}

/**
 * An inline embeddable's change names its flattened property (`address_city`); `fields: ['address']` names the
 * embedded one, so the change names that too. Per entity: flattened property -> the embedded properties it is
 * part of (nested ones included), or undefined for an entity without inline embeddables (most).
 */
const embeddedRoots = new WeakMap<EntityMetadata, Map<string, string[]> | null>();

function embeddedRootsOf(meta: EntityMetadata): Map<string, string[]> | undefined {
  let roots = embeddedRoots.get(meta);
  if (roots === undefined) {
    roots = new Map();
    for (const prop of meta.props) {
      const chain: string[] = [];
      for (let p = prop; p.embedded; p = meta.properties[p.embedded[0] as never]) chain.push(p.embedded[0]);
      if (chain.length > 0) roots.set(prop.name, chain);
    }
    if (roots.size === 0) roots = null;
    embeddedRoots.set(meta, roots);
  }
  return roots ?? undefined;
}

function withRoots(keys: string[], roots: Map<string, string[]>): string[] {
  const all = new Set(keys);
  for (const key of keys) for (const root of roots.get(key) ?? []) all.add(root);
  return [...all];
}
