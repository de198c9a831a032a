import { Reference, ReferenceKind, Utils, wrap, type EntityMetadata, type EntityProperty } from '@mikro-orm/core';

/** Properties stored in the entity's own row: scalars, embeddables and owning to-one relations (their key). */
export function columnProperties(meta: EntityMetadata): EntityProperty[] {
  return meta.props.filter((prop) => prop.persist !== false && !prop.formula && !prop.embedded && (
    prop.kind === ReferenceKind.SCALAR || prop.kind === ReferenceKind.EMBEDDED || prop.kind === ReferenceKind.MANY_TO_ONE ||
    (prop.kind === ReferenceKind.ONE_TO_ONE && prop.owner)));
}

/**
 * A removed row as a @SubjectIdsFrom method sees it (`Snapshot<E>`): column values as JSON-safe data, and each
 * owned to-one relation as an object holding the related row's primary key (`{ product: { id: 2 } }`), the same
 * shape as on TypeORM. `data` is the entity's state as last loaded (MikroORM's original entity data: relations as
 * bare keys, dates as numbers) or the entity itself (relations as entities or references).
 */
export function snapshotOf(meta: EntityMetadata, data: object): Record<string, unknown> {
  const snapshot: Record<string, unknown> = {};
  const fields = snapshotFields(meta);
  for (let i = 0; i < fields.length; i++) {
    const value = (data as Record<string, unknown>)[fields[i].name];
    if (value !== undefined) snapshot[fields[i].name] = value === null ? null : fields[i].safe(value);
  }
  return snapshot;
}

/** A column of the snapshot and how its value becomes JSON-safe. */
interface SnapshotField {
  name: string;
  safe(value: unknown): unknown;
}

const fieldsOf = new WeakMap<EntityMetadata, SnapshotField[]>();

/**
 * Once per entity: a removal of 1,000 rows took a snapshot per row, and working out each column's kind there
 * (and copying each relation's property) was 5.8 ms of the 11 ms that capture added to such a flush.
 */
function snapshotFields(meta: EntityMetadata): SnapshotField[] {
  let fields = fieldsOf.get(meta);
  if (!fields) {
    fields = columnProperties(meta).map((prop): SnapshotField => {
      if (prop.kind === ReferenceKind.MANY_TO_ONE || prop.kind === ReferenceKind.ONE_TO_ONE) {
        const names = prop.targetMeta?.primaryKeys ?? prop.referencedPKs ?? ['id'];
        return { name: prop.name, safe: (value) => relationKey(names, value) };
      }
      return { name: prop.name, safe: (value) => jsonSafe(prop, value) };
    });
    fieldsOf.set(meta, fields);
  }
  return fields;
}

/** The primary key of an entity (or of its snapshot), as the string that travels in job data. */
export function keyOf(meta: EntityMetadata, entity: object): string | undefined {
  const value = (entity as Record<string, unknown>)[meta.primaryKeys[0]];
  // A key that is itself a relation: an entity or reference, or in a snapshot the `{ <pk>: value }` object.
  const key = value && typeof value === 'object'
    ? (Utils.isEntity(value) || Reference.isReference(value) ? referencedKey(value) : Object.values(value)[0])
    : value;
  return key === undefined || key === null ? undefined : String(key);
}

function referencedKey(value: object): unknown {
  // A to-one relation holds an entity, or a Reference wrapping one.
  const target = Reference.unwrapReference(value as never) as object;
  return Utils.isEntity(target) ? wrap(target, true).getPrimaryKey() : undefined;
}

/** A to-one relation's value (a bare key, a composite key as an array, an entity or a reference) as `{ <pk>: value }`. */
function relationKey(names: string[], value: unknown): Record<string, unknown> | undefined {
  let key = value;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const parts = Object.values(value);
    key = Utils.isEntity(value) || Reference.isReference(value) ? referencedKey(value) : parts.length === 1 ? parts[0] : parts;
  }
  if (key === undefined || key === null) return undefined;
  const values = names.length > 1 && Array.isArray(key) ? key : [key];
  const out: Record<string, unknown> = {};
  for (let i = 0; i < names.length; i++) out[names[i]] = values[i] === null ? null : plainSafe(values[i]);
  return out;
}

function jsonSafe(prop: EntityProperty, value: unknown): unknown {
  // The original entity data keeps dates as numbers (or strings), to compare them.
  if (prop.runtimeType === 'Date' && (typeof value === 'number' || typeof value === 'string')) {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? value : date.toISOString();
  }
  return plainSafe(value);
}

/** A value of no known type (a key) as JSON-safe data. */
function plainSafe(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return value;
}
