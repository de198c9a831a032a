import { ConfigurationError, describeError, shownValue } from '../errors';
import type { MachineDefinition } from '../metadata/machine-definition';
import type { ColumnFilter, EntityInfo, OrmAdapter } from '../ports';
import { checkWhereValue } from '../where-values';

/**
 * `where` is column equality: a plain object of strings, numbers, booleans, dates and null. An ORM operator object
 * (`{ $gt: 5 }`) would otherwise reach the ORM and be applied on one adapter and refused on another, and the CLI
 * refuses it already: refused here too, with what to do instead.
 */
export function checkedWhere(where: unknown, call: string, subject?: EntityInfo): ColumnFilter {
  if (!where || typeof where !== 'object' || Array.isArray(where)) {
    throw new ConfigurationError(`${call}: \`where\` must be an object of column values, such as { status: 'shipped' }; ` +
      `got ${shownValue(where)}.`);
  }
  for (const [column, value] of Object.entries(where)) {
    if (!(value === null || typeof value === 'string' || typeof value === 'boolean' || typeof value === 'bigint' ||
        (typeof value === 'number' && Number.isFinite(value)) || value instanceof Date)) {
      throw new ConfigurationError(`${call}: where.${column} is ${shown(value)}; only strings, numbers, booleans, dates ` +
        'and null compare by equality. For other selections pass the subject ids (`ids`).');
    }
    // Of the right type for its column too; a column the entity lacks is the adapter's to name, with the ones it has.
    const kind = subject?.columnKinds?.[column];
    if (kind) checkWhereValue(subject!.name, column, kind, value, call);
  }
  return where as ColumnFilter;
}

function shown(value: unknown): string {
  if (value && typeof value === 'object') {
    try { return JSON.stringify(value); } catch { /* a cycle: as shownValue says it */ }
  }
  return shownValue(value);
}

/**
 * The first query of a call with `where`: a value the column's type refuses (`{ customerId: 'abc' }` for an integer
 * column on PostgreSQL) fails there, and the database's words alone named neither the call nor the filter. Nothing
 * was requested yet when it fails. The database's error stays as `cause`.
 */
export async function firstWhereQuery<T>(call: string, entity: string, where: ColumnFilter, query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (error) {
    if (error instanceof ConfigurationError) throw error; // the adapter's own check (an unknown column) says it all
    throw new Error(`${call}: the query for ${entity} where ${shownFilter(where)} failed (${describeError(error)}). ` +
      "When the database refused a value, give each column of `where` a value of that column's type (a number for " +
      'a numeric column, an ISO string or a Date for a date). Nothing was requested.', { cause: error });
  }
}

function shownFilter(where: ColumnFilter): string {
  return `{ ${Object.entries(where).map(([column, value]) => `${column}: ${typeof value === 'bigint' ? `${value}n`
    : value instanceof Date ? value.toISOString() : JSON.stringify(value)}`).join(', ')} }`;
}

/**
 * The next page of subject ids after `after`: all of them, or those `where` matches, whose first page goes through
 * firstWhereQuery. Shared by resync and reconcile.
 */
export function nextPage(
  adapter: OrmAdapter, machine: MachineDefinition, call: string, where: ColumnFilter | undefined, after: string | undefined, size: number,
): Promise<string[]> {
  if (!where) return adapter.pageIds(machine.subject, after, size);
  const page = () => adapter.pageIdsWhere!(machine.subject, where, after, size);
  return after === undefined ? firstWhereQuery(call, machine.subjectInfo.name, where, page) : page();
}
