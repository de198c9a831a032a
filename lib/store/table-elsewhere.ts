/*
 * PostgreSQL: a table of ours that the connection cannot find may be in another schema of the database:
 * an app whose entities name `schema: 'shop'` while its connection looks in `public`, say. The fix the error gave,
 * to create the table, then made a second, empty one beside it (a trial): every subject was published again, with
 * versions from 1, which a partner that refuses a lower version would refuse. So the error names where it is. Not
 * on MySQL or MariaDB, where another database holding the table is as likely another app's.
 */

/** The schemas of the connection's database that hold `table` (PostgreSQL). */
export function tableSchemasSql(table: string): string {
  return `SELECT table_schema FROM information_schema.tables WHERE table_catalog = current_database() AND table_name = '${table.replace(/'/g, "''")}'`;
}

/** Whether a read failed because the table is not where the connection looks (PostgreSQL's message). */
export function tableMissing(error: unknown): boolean {
  return /relation "?[\w.]+"? does not exist/i.test(String((error as Error)?.message ?? error));
}

/**
 * The sentence that names where `table` is, from the rows of tableSchemasSql, after a read failed with tableMissing
 * ('' when it is nowhere else, or the query fails).
 */
export async function elsewhereHint(table: string, rows: Promise<unknown[]>): Promise<string> {
  let schemas: string[];
  try {
    schemas = [...new Set((await rows).map((row) => String(Object.values(row as object)[0])))].sort();
  } catch {
    return '';
  }
  if (schemas.length === 0) return '';
  return ` A ${table} table exists in ${schemas.map((s) => `"${s}"`).join(', ')}, where this connection does not look: ` +
    "if it is this app's, point the connection there (TypeORM: the DataSource's `schema` option; MikroORM: `schema` " +
    'in its config) rather than creating another, which would start empty: every subject would be published again, ' +
    'with versions from 1.';
}

/**
 * The refusal of a payload table that cannot be read: with `elsewhere` (elsewhereHint), where one is comes first and
 * `create` (how to make one) is for an app that has none yet; a trial followed "create it" to an empty second table.
 */
export function unreadableTable(table: string, cause: string, create: string, elsewhere: string): string {
  return elsewhere
    ? `The payload table ${table} cannot be read (${cause}).${elsewhere} Only for an app that has none yet: ${create}`
    : `The payload table ${table} cannot be read (${cause}): ${create}`;
}
