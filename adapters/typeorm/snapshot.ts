import type { EntityMetadata } from 'typeorm';

/** Column values of a row as JSON-safe data: what a @SubjectIdsFrom method sees of a removed row. */
export function snapshotOf(metadata: EntityMetadata, row: object): Record<string, unknown> {
  const snapshot: Record<string, unknown> = {};
  for (const column of metadata.columns) {
    const value = column.getEntityValue(row);
    if (value !== undefined) snapshot[column.propertyPath] = jsonSafe(value);
  }
  return snapshot;
}

function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return value;
}
