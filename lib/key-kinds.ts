/**
 * What a subject's primary key holds, as far as ids (which travel as strings) are concerned: 'integer' ids must
 * read as whole numbers and go to the database as numbers; 'uuid' ids must be uuids where the database casts them
 * (PostgreSQL refuses the whole query for one that is not); 'text' takes any string.
 */
export type KeyKind = 'integer' | 'uuid' | 'text';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a row of such a key can have this id: an id that cannot matches no row, and is never sent to the database. */
export function fitsKey(kind: KeyKind, id: string): boolean {
  if (kind === 'integer') return /^-?\d+$/.test(id) && Number.isSafeInteger(Number(id));
  if (kind === 'uuid') return UUID.test(id);
  return true;
}

/** An id as the database compares it, or undefined when no row can have it. */
export function keyValue(kind: KeyKind, id: string): string | number | undefined {
  if (!fitsKey(kind, id)) return undefined;
  return kind === 'integer' ? Number(id) : id;
}
