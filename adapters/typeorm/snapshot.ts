import type { EntityManager, EntityMetadata } from 'typeorm';

/** TypeORM 0.3 does not export RelationMetadata from its root (1.x does): derived, so both compile. */
type RelationMetadata = EntityMetadata['relations'][number];

/** The to-one relations whose key lives in this entity's row (many-to-one, owning one-to-one). */
export function ownedToOne(metadata: EntityMetadata): RelationMetadata[] {
  return metadata.relations.filter((r) => (r.isManyToOne || r.isOneToOneOwner) && r.joinColumns.length > 0);
}

/** Owned to-one relations whose key `row` does not hold: loaded without relations and with no foreign-key property. */
export function relationsWithoutKey(metadata: EntityMetadata, row: object): RelationMetadata[] {
  return ownedToOne(metadata).filter((r) => r.joinColumns.every((join) => join.getEntityValue(row) === undefined));
}

/** A row about to be removed whose snapshot needs the keys of `missing`, which it does not hold. */
export interface KeyRead {
  row: object;
  id: unknown;
  missing: RelationMetadata[];
}

/** Rows read per query: within SQLite's 1,000-term expressions and every driver's bound-parameter limit. */
const ROWS_PER_KEY_READ = 500;

/**
 * Reads the missing relation keys of rows of one entity, before they are deleted (in the same transaction), a few
 * hundred rows per query, and returns for each row a copy that holds them, so that its snapshot can name the
 * related rows. A row no longer there keeps no copy.
 */
export async function withRelationKeys(manager: EntityManager, metadata: EntityMetadata, reads: KeyRead[]): Promise<Map<object, object>> {
  const pk = metadata.primaryColumns[0];
  const relations = [...new Set(reads.flatMap((read) => read.missing))];
  // The join columns' raw values, not entities: hydrating the rows took most of the read.
  const joins = relations.flatMap((relation) => relation.joinColumns);
  const loaded = new Map<string, Record<string, unknown>>();
  for (let i = 0; i < reads.length; i += ROWS_PER_KEY_READ) {
    const query = manager.createQueryBuilder(metadata.target, 'e').withDeleted();
    query.select(`e.${pk.propertyPath}`, 'pk');
    joins.forEach((join, j) => query.addSelect(`${query.escape('e')}.${query.escape(join.databaseName)}`, `k${j}`));
    const rows: Array<Record<string, unknown>> = await query
      .where(`e.${pk.propertyPath} IN (:...ids)`, { ids: reads.slice(i, i + ROWS_PER_KEY_READ).map((read) => read.id) })
      .getRawMany();
    for (const row of rows) loaded.set(String(manager.connection.driver.prepareHydratedValue(row.pk, pk)), row);
  }
  const copies = new Map<object, object>();
  for (const { row, id, missing } of reads) {
    const found = loaded.get(String(id));
    if (!found) continue;
    const copy = Object.assign(Object.create(Object.getPrototypeOf(row)), row);
    for (const relation of missing) {
      // As loadRelationIds gives it: the related row as an object of its key, `{ id: 2 }`, or null for none.
      const key: Record<string, unknown> = {};
      let isNull = true;
      for (const join of relation.joinColumns) {
        const value = found[`k${joins.indexOf(join)}`];
        if (value !== null && value !== undefined) isNull = false;
        key[join.referencedColumn?.propertyName ?? join.propertyName] = manager.connection.driver.prepareHydratedValue(value, join);
      }
      copy[relation.propertyName] = isNull ? null : key;
    }
    copies.set(row, copy);
  }
  return copies;
}

/**
 * A removed row as a @SubjectIdsFrom method sees it (`Snapshot<E>`): column values as JSON-safe data, and each
 * to-one relation the row owns as an object holding the related row's key (`{ product: { id: 2 } }`), whether the
 * entity declares the foreign key as a column of its own or not.
 */
export function snapshotOf(metadata: EntityMetadata, row: object): Record<string, unknown> {
  const snapshot: Record<string, unknown> = {};
  for (const column of metadata.columns) {
    // A join column without a property of its own stands for its relation, written below.
    if (column.relationMetadata && column.propertyName === column.relationMetadata.propertyName) continue;
    const value = column.getEntityValue(row);
    if (value !== undefined) snapshot[column.propertyPath] = jsonSafe(value);
  }
  for (const relation of ownedToOne(metadata)) {
    const key: Record<string, unknown> = {};
    let missing = false;
    let isNull = false;
    for (const join of relation.joinColumns) {
      // The join column reads the key from the related object, or from the entity's own foreign-key property.
      const value = join.getEntityValue(row);
      if (value === undefined) missing = true;
      else if (value === null) isNull = true;
      else key[join.referencedColumn?.propertyName ?? join.propertyName] = jsonSafe(value);
    }
    if (isNull) snapshot[relation.propertyPath] = null;
    else if (!missing) snapshot[relation.propertyPath] = key;
  }
  return snapshot;
}

function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return value;
}
