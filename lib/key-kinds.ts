/**
 * What a subject's primary key holds, as far as ids (which travel as strings) are concerned: 'integer' ids must
 * read as whole numbers and go to the database as numbers; 'bigint' ids (a 64-bit column, which the ORMs hand out as
 * strings) must be whole numbers in its range and go as the strings they are, since a number loses digits past
 * 2^53; 'uuid' ids must be uuids, and are one id in any case, where the database compares them so (PostgreSQL's uuid
 * column, which refuses the whole query for one that is not a uuid and hands them out in lower case; MariaDB's uuid
 * column; a MySQL/MariaDB text column under its default case-insensitive collation): they go in lower case, however
 * the app, a mapper or a row spells them (a trial's upper-case uuid found its MariaDB row, missed it in the result,
 * and reported the subject gone); 'uuid-text' ids must be uuids too, for a key the app declares a uuid that the
 * database compares as spelled (SQLite's text, a binary collation), so they are taken as spelled (a trial's mapper
 * returned numbers for such keys, and its change passed as gone subjects); 'text' takes any string.
 */
export type KeyKind = 'integer' | 'bigint' | 'uuid' | 'uuid-text' | 'text';

/** The column types (lower case) of a 64-bit integer key, as PostgreSQL, MySQL/MariaDB and SQLite name them: both adapters read them. */
export const BIGINT_COLUMN_TYPES: ReadonlySet<string> = new Set(['bigint', 'int8', 'bigserial']);

/** How an error names each kind of key ("Order.id is an integer key"). */
export const KEY_NAMES: Record<KeyKind, string> = {
  integer: 'an integer key', bigint: 'a bigint key', uuid: 'a uuid key', 'uuid-text': 'a uuid key', text: 'a text key',
};

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A number past Number.MAX_SAFE_INTEGER (2^53 - 1): it may already have lost digits (9007199254740993 reads as
 * 9007199254740992), so the id it stands for is not known. A trial's mapper returned Number() of a bigint key and
 * republished the neighbouring subject, with no error anywhere.
 */
export function isUnsafeNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value);
}

/** What to say of such a number, after "returned" or "was given" (isUnsafeNumber). */
export const UNSAFE_NUMBER_WHY = 'past Number.MAX_SAFE_INTEGER (2^53 - 1), where a number may already have lost digits ' +
  '(9007199254740993 reads as 9007199254740992) and so name another row';

/** Whether a row of such a key can have this id: an id that cannot matches no row, and is never sent to the database. */
export function fitsKey(kind: KeyKind, id: string): boolean {
  if (kind === 'integer') return /^-?\d+$/.test(id) && Number.isSafeInteger(Number(id));
  // A query with one bigint id that is not one fails whole on PostgreSQL ('invalid input syntax for type bigint').
  if (kind === 'bigint') return /^-?\d+$/.test(id) && inInt64(BigInt(id));
  if (kind === 'uuid' || kind === 'uuid-text') return UUID.test(id);
  return true;
}

/**
 * An id as the rows spell it, for one that fits the key: a run finds its row by the key the database hands back, so
 * '007' (an integer key) or an upper-case uuid (PostgreSQL hands uuids out in lower case) found the row, missed it in
 * the result, and reported the subject gone. Text keys are taken as given.
 */
export function canonicalId(kind: KeyKind, id: string): string {
  if (kind === 'integer') return String(Number(id));
  if (kind === 'bigint') return BigInt(id).toString();
  if (kind === 'uuid') return id.toLowerCase();
  return id;
}

/** A key the database handed out (a row's, an entity's), as subject ids spell it: a uuid in lower case (see KeyKind). */
export function rowId(kind: KeyKind, value: unknown): string {
  const id = String(value);
  return kind === 'uuid' ? id.toLowerCase() : id;
}

/**
 * Whether a uuid key is one id in any case (KeyKind 'uuid'): PostgreSQL's uuid column; on MySQL/MariaDB its uuid
 * column and its text under a collation that ignores case (the default ones end in _ci); not SQLite's text.
 */
export function uuidFoldsCase(dialect: 'postgresql' | 'mysql' | 'sqlite' | undefined, columnType: string, collation?: string): boolean {
  if (dialect === 'postgresql') return columnType === 'uuid';
  if (dialect === 'mysql') return collationIgnoresCase(collation);
  return false;
}

/** Whether a MySQL/MariaDB text column compares without case: its default collations (and any but _bin/_cs) do. */
export function collationIgnoresCase(collation: string | undefined): boolean {
  return !collation || !/(_bin|_cs|^binary)$/i.test(collation);
}

/** An id as the database compares it, or undefined when no row can have it. */
export function keyValue(kind: KeyKind, id: string): string | number | undefined {
  if (!fitsKey(kind, id)) return undefined;
  return kind === 'integer' ? Number(id) : id;
}

function inInt64(value: bigint): boolean {
  return value >= INT64_MIN && value <= INT64_MAX;
}
