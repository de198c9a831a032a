import { ConfigurationError, shownValue } from './errors';

/** What a column compares as, for a `where` value: its type's family, or 'other' (json, enums, binary: not checked). */
export type ColumnKind = 'number' | 'text' | 'boolean' | 'date' | 'other';

/** SQL type names (lower case, without length or precision) by family, as PostgreSQL, MySQL/MariaDB and SQLite name them. */
const SQL_KINDS: Array<[ColumnKind, ReadonlySet<string>]> = [
  ['number', new Set(['int', 'integer', 'int2', 'int4', 'int8', 'smallint', 'tinyint', 'mediumint', 'bigint', 'serial',
    'smallserial', 'bigserial', 'decimal', 'numeric', 'dec', 'fixed', 'float', 'float4', 'float8', 'double',
    'double precision', 'real', 'number', 'unsigned big int'])],
  ['text', new Set(['varchar', 'character varying', 'char', 'character', 'nchar', 'nvarchar', 'national varchar',
    'text', 'tinytext', 'mediumtext', 'longtext', 'string', 'citext', 'uuid', 'varchar2', 'clob'])],
  ['boolean', new Set(['boolean', 'bool'])],
  ['date', new Set(['date', 'datetime', 'datetime2', 'timestamp', 'timestamptz', 'timestamp with time zone',
    'timestamp without time zone', 'smalldatetime', 'datetimeoffset'])],
];

/** The family of an SQL column type (`varchar(255)`, `NUMERIC(10,2)`, `timestamp(3) with time zone` included). */
export function sqlColumnKind(type: string): ColumnKind {
  const name = type.toLowerCase().replace(/\(.*?\)/g, '').replace(/\s+/g, ' ').trim();
  for (const [kind, names] of SQL_KINDS) if (names.has(name)) return kind;
  return 'other';
}

/** A number as the databases read one from text: `12`, `-3.5`, `1e3`; not `1abc`, which MariaDB reads as 1. */
const NUMERIC_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Refuses a `where` value its column's type cannot equal. PostgreSQL refuses such a query whole, but MySQL/MariaDB
 * and SQLite convert: `{ stock: 'abc' }` matched the rows whose stock is 0, and `{ sku: 0 }` every sku that does not
 * start with a digit. So a resync or reconcile ran over other rows than the user meant.
 */
export function checkWhereValue(entity: string, column: string, kind: ColumnKind, value: unknown, call: string): void {
  if (value === null || kind === 'other') return;
  const fits = kind === 'number'
    ? (typeof value === 'number' && Number.isFinite(value)) || typeof value === 'bigint' || typeof value === 'boolean' ||
      (typeof value === 'string' && NUMERIC_TEXT.test(value))
    : kind === 'text' ? typeof value === 'string'
      : kind === 'boolean' ? typeof value === 'boolean' || value === 0 || value === 1
        : value instanceof Date ? !Number.isNaN(value.getTime()) : typeof value === 'string' && !Number.isNaN(Date.parse(value));
  if (fits) return;
  throw new ConfigurationError(`${call}: ${entity}.${column} is a ${KIND_NAMES[kind]} column, and ${shownValue(value)} is not ` +
    `${KIND_WANTED[kind]}, so no row can equal it (MySQL/MariaDB and SQLite would convert it and match other rows). ` +
    `Give ${column} ${KIND_WANTED[kind]}. Nothing was requested.`);
}

const KIND_NAMES: Record<ColumnKind, string> = { number: 'numeric', text: 'text', boolean: 'boolean', date: 'date', other: '' };

const KIND_WANTED: Record<ColumnKind, string> = {
  number: "a number (or a string of one, '12.50')",
  text: "a string ('42', not 42)",
  boolean: 'true or false',
  date: "a Date or an ISO date string ('2026-12-05T10:00:00Z')",
  other: '',
};
