import { Reference, ReferenceKind, Utils, wrap, type EntityMetadata, type EntityProperty } from '@mikro-orm/core';

/** Properties stored in the entity's own row: scalars, embeddables and owning to-one relations (their key). */
export function columnProperties(meta: EntityMetadata): EntityProperty[] {
  return meta.props.filter((prop) => prop.persist !== false && !prop.formula && !prop.embedded && (
    prop.kind === ReferenceKind.SCALAR || prop.kind === ReferenceKind.EMBEDDED || prop.kind === ReferenceKind.MANY_TO_ONE ||
    (prop.kind === ReferenceKind.ONE_TO_ONE && prop.owner)));
}

/**
 * Column values of a row as JSON-safe data: what a @SubjectIdsFrom method sees of a removed row. `data` is the
 * entity's state as last loaded (MikroORM's original entity data: relations as keys, dates as numbers) or the
 * entity itself.
 */
export function snapshotOf(meta: EntityMetadata, data: object): Record<string, unknown> {
  const snapshot: Record<string, unknown> = {};
  for (const prop of columnProperties(meta)) {
    const value = (data as Record<string, unknown>)[prop.name];
    if (value !== undefined) snapshot[prop.name] = jsonSafe(prop, value);
  }
  return snapshot;
}

/** The primary key of an entity or of a reference to one, as the string that travels in job data. */
export function keyOf(meta: EntityMetadata, entity: object): string | undefined {
  const value = (entity as Record<string, unknown>)[meta.primaryKeys[0]];
  const key = value && typeof value === 'object' ? referencedKey(value) : value;
  return key === undefined || key === null ? undefined : String(key);
}

function referencedKey(value: object): unknown {
  // A to-one relation holds an entity, or a Reference wrapping one.
  const target = Reference.unwrapReference(value as never) as object;
  return Utils.isEntity(target) ? wrap(target, true).getPrimaryKey() : undefined;
}

function jsonSafe(prop: EntityProperty, value: unknown): unknown {
  if (value === null) return null;
  if (prop.kind !== ReferenceKind.SCALAR && prop.kind !== ReferenceKind.EMBEDDED && typeof value === 'object') {
    return jsonSafe({ ...prop, kind: ReferenceKind.SCALAR, runtimeType: 'any' } as unknown as EntityProperty, referencedKey(value)); // via unknown: 6.0's runtimeType has no 'any'
  }
  if (value instanceof Date) return value.toISOString();
  // The original entity data keeps dates as numbers (or strings), to compare them.
  if (prop.runtimeType === 'Date' && (typeof value === 'number' || typeof value === 'string')) {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? value : date.toISOString();
  }
  if (typeof value === 'bigint') return value.toString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return value;
}
