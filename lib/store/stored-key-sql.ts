/*
 * The end of a full resync or reconcile asks the database for the stored subjects whose row is gone: a NOT EXISTS
 * over the subject's table per payload row, so that only those come back (usually none). Both adapters build that
 * query; this is the part they share, the SQL of the key a stored subject id (a varchar) stands for.
 */

export type SqlDialect = 'postgresql' | 'mysql' | 'sqlite';

const INTEGER_SQL = /^(tiny|small|medium|big)?int(eger)?$|^int[248]$|^(small|big)?serial$/;
const TEXT_SQL = /^(character varying|varchar|text|character|char|nvarchar|nchar)$/;
const UUID_SQL = "'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'";
/** `-{0,1}`, not `-?`: a `?` in raw SQL is a parameter to knex (MikroORM), wherever it stands. */
const INTEGER_TEXT = "'^-{0,1}[0-9]{1,18}$'";

/**
 * SQL for the key value that the stored id `stored` (a column expression) stands for, to compare with a key column
 * of SQL type `sqlType` (lower case, no length); undefined where the type is not one of these (the walk then does
 * without). An id that cannot be such a key gives NULL, so no row has it, where a failed cast would make PostgreSQL
 * refuse the whole query. The key column is compared as itself, so that its index finds the row.
 */
export function keyOfStoredId(dialect: SqlDialect, sqlType: string, stored: string): string | undefined {
  const type = sqlType.toLowerCase().replace(/\(.*$/, '').trim();
  const integer = INTEGER_SQL.test(type);
  const text = TEXT_SQL.test(type) || type === 'uuid';
  if (dialect === 'sqlite') {
    // Only the canonical text of a number: type affinity would also take ' 7' or '7.0' for the row 7.
    if (integer) return `CASE WHEN CAST(CAST(${stored} AS INTEGER) AS TEXT) = ${stored} THEN CAST(${stored} AS INTEGER) END`;
    return text ? stored : undefined;
  }
  if (dialect === 'postgresql') {
    if (integer) return `CASE WHEN ${stored} ~ ${INTEGER_TEXT} THEN CAST(${stored} AS bigint) END`;
    if (type === 'uuid') return `CASE WHEN ${stored} ~ ${UUID_SQL} THEN CAST(${stored} AS uuid) END`;
    return TEXT_SQL.test(type) ? stored : undefined; // a uuid key is a uuid column here, cast above
  }
  if (integer) return `CASE WHEN ${stored} REGEXP ${INTEGER_TEXT} THEN CAST(${stored} AS SIGNED) END`;
  return text ? stored : undefined;
}
