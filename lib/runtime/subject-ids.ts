import { ConfigurationError, shownValue } from '../errors';
import type { EntityInfo } from '../ports';

/**
 * Ids given to a call (`resync({ ids })`, `reconcile`, `notifyChanged`), as the strings they travel as. Refused
 * before anything is requested: a list that is not one, an id that is neither a string nor a number (an entity
 * instead of its id, say), and, for an integer primary key, an id that is not a whole number ('4x' would match no
 * row, and its run would report the subject as gone).
 */
export function checkedIds(ids: unknown, entity: EntityInfo, call: string): string[] {
  if (!Array.isArray(ids)) {
    throw new ConfigurationError(`${call}: ids must be an array of ${entity.name} ids, e.g. [1, 2, 3]; got ${shown(ids)}.`);
  }
  const key = `${entity.name}.${entity.primaryKey}`;
  const bad = ids.filter((id) => !(typeof id === 'number' || typeof id === 'string'));
  const rule = bad.length > 0
    ? `ids must be strings or numbers, the values of ${key}${bad.some((id) => typeof id === 'object' && id !== null) ? ', not entities' : ''}`
    : `${key} is an integer key, so ids must be whole numbers`;
  if (bad.length === 0 && entity.integerKey) bad.push(...ids.filter((id) => !isWholeNumber(id)));
  if (bad.length > 0) {
    const list = bad.slice(0, 5).map(shown).join(', ') + (bad.length > 5 ? ` and ${bad.length - 5} more` : '');
    throw new ConfigurationError(`${call}: ${rule}; ${list} ${bad.length === 1 ? 'is not one' : 'are not'}. ` +
      `Nothing was done: fix ${bad.length === 1 ? 'it' : 'them'} and call again.`);
  }
  return ids.map(String);
}

function isWholeNumber(id: string | number): boolean {
  return typeof id === 'number' ? Number.isSafeInteger(id) : /^-?\d+$/.test(id) && Number.isSafeInteger(Number(id));
}

/** A value as JSON where it has a JSON form (an entity shows its columns), else as shownValue does. */
function shown(value: unknown): string {
  if (typeof value === 'object' && value !== null) {
    try {
      const json = JSON.stringify(value);
      return json.length > 60 ? `${json.slice(0, 57)}...` : json;
    } catch {
      return shownValue(value);
    }
  }
  return shownValue(value);
}
