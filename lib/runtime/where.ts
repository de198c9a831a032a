import { ConfigurationError, shownValue } from '../errors';
import type { ColumnFilter } from '../ports';

/**
 * `where` is column equality: a plain object of strings, numbers, booleans, dates and null. An ORM operator object
 * (`{ $gt: 5 }`) would otherwise reach the ORM and be applied on one adapter and refused on another, and the CLI
 * refuses it already: refused here too, with what to do instead.
 */
export function checkedWhere(where: unknown, call: string): ColumnFilter {
  if (!where || typeof where !== 'object' || Array.isArray(where)) {
    throw new ConfigurationError(`${call}: \`where\` must be an object of column values, such as { status: 'shipped' }; ` +
      `got ${shownValue(where)}.`);
  }
  for (const [column, value] of Object.entries(where)) {
    if (value === null || typeof value === 'string' || typeof value === 'boolean' || typeof value === 'bigint' ||
        (typeof value === 'number' && Number.isFinite(value)) || value instanceof Date) continue;
    throw new ConfigurationError(`${call}: where.${column} is ${shown(value)}; only strings, numbers, booleans, dates ` +
      'and null compare by equality. For other selections pass the subject ids (`ids`).');
  }
  return where as ColumnFilter;
}

function shown(value: unknown): string {
  if (value && typeof value === 'object') {
    try { return JSON.stringify(value); } catch { /* a cycle: as shownValue says it */ }
  }
  return shownValue(value);
}
