import type { EntityManager, EntityMetadata } from 'typeorm';

/** TypeORM 0.3 does not export RelationMetadata from its root (1.x does): derived, so both compile. */
type RelationMetadata = EntityMetadata['relations'][number];

/** The to-one relations whose key lives in this entity's row (many-to-one, owning one-to-one). */
function ownedToOne(metadata: EntityMetadata): RelationMetadata[] {
  return metadata.relations.filter((r) => (r.isManyToOne || r.isOneToOneOwner) && r.joinColumns.length > 0);
}

/** Owned to-one relations whose key `row` does not hold: loaded without relations and with no foreign-key property. */
export function relationsWithoutKey(metadata: EntityMetadata, row: object): RelationMetadata[] {
  return ownedToOne(metadata).filter((r) => r.joinColumns.every((join) => join.getEntityValue(row) === undefined));
}

/**
 * Reads the keys of `relations` for the row `id`, before it is deleted (in the same transaction), and returns a
 * copy of `row` that holds them, so that its snapshot can name the related rows.
 */
export async function withRelationKeys(
  manager: EntityManager, metadata: EntityMetadata, relations: RelationMetadata[], row: object, id: unknown,
): Promise<object> {
  const pk = metadata.primaryColumns[0];
  const loaded = await manager.getRepository(metadata.target).findOne({
    where: { [pk.propertyName]: id }, withDeleted: true,
    loadRelationIds: { relations: relations.map((r) => r.propertyPath), disableMixedMap: false },
  });
  if (!loaded) return row;
  const copy = Object.assign(Object.create(Object.getPrototypeOf(row)), row);
  for (const relation of relations) copy[relation.propertyName] = relation.getEntityValue(loaded);
  return copy;
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
