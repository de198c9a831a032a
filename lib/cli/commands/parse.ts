import { InvalidArgumentError } from 'commander';
import type { ColumnFilter } from '../../ports';

/** Commander argument parsers: a bad value is a usage error (exit code 2) that says what is expected. */
export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1.');
  return n;
}

export function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a whole number (0 or more).');
  return n;
}

/** `1,2,3` (spaces allowed); ids stay strings, as they travel. */
export function idList(value: string): string[] {
  const ids = value.split(',').map((id) => id.trim());
  // An empty entry ('1,,2', a trailing comma) is most often an id a script failed to fill in: said, not skipped.
  if (ids.some((id) => id.length === 0)) {
    throw new InvalidArgumentError(`expected subject ids separated by commas, e.g. --ids 1,2,3; ${JSON.stringify(value)} has an empty one.`);
  }
  return ids;
}

/** A JSON object of column = value: `{"status":"shipped","customerId":3}`. Values are bound, never spliced into SQL. */
export function columnFilter(value: string): ColumnFilter {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError(`expected a JSON object of column values, e.g. --where '{"status":"shipped"}'; got ${value}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || Object.keys(parsed).length === 0) {
    throw new InvalidArgumentError('expected a non-empty JSON object of column values, e.g. --where \'{"status":"shipped"}\'.');
  }
  for (const [column, v] of Object.entries(parsed)) {
    if (v !== null && !['string', 'number', 'boolean'].includes(typeof v)) {
      throw new InvalidArgumentError(`"${column}": only strings, numbers, booleans and null compare by equality; got ${JSON.stringify(v)}.`);
    }
  }
  return parsed as ColumnFilter;
}
