import { ConfigurationError, listed, shownJson } from '../errors';
import { canonicalId, fitsKey, isUnsafeNumber, KEY_NAMES, UNSAFE_NUMBER_WHY, type KeyKind } from '../key-kinds';
import type { EntityInfo } from '../ports';

const KEY_RULES: Record<KeyKind, string> = {
  integer: `${KEY_NAMES.integer}, so ids must be whole numbers`,
  bigint: `${KEY_NAMES.bigint}, so ids must be whole numbers from -2^63 to 2^63-1`,
  uuid: `${KEY_NAMES.uuid}, so ids must be uuids`,
  'uuid-text': `${KEY_NAMES['uuid-text']}, so ids must be uuids`,
  text: KEY_NAMES.text, // every string fits
};

/**
 * Ids that no row of the subject can have, refused before anything was requested. `problem` says which and why
 * without naming the call, so that the CLI can say it of its option (`--ids 1,x`) instead of an API call.
 */
export class SubjectIdsError extends ConfigurationError {
  constructor(readonly call: string, readonly problem: string, readonly count: number) {
    super(`${call}: ${problem} Nothing was done: fix ${count === 1 ? 'it' : 'them'} and call again.`);
  }
}

/**
 * Ids given to a call (`resync({ ids })`, `reconcile`, `notifyChanged`), as the strings they travel as. Refused
 * before anything is requested: a list that is not one, an id that is neither a string, a number nor a BigInt (an
 * entity instead of its id, say), a number past 2^53 (it may have lost digits), and, for an integer, bigint or uuid
 * key, an id no row can have ('4x' would match no row, and its run would report the subject as gone).
 */
export function checkedIds(ids: unknown, entity: EntityInfo, call: string): string[] {
  if (!Array.isArray(ids)) {
    throw new ConfigurationError(`${call}: ids must be an array of ${entity.name} ids, e.g. [1, 2, 3]; got ${shownJson(ids)}.`);
  }
  const key = `${entity.name}.${entity.primaryKey}`;
  // The first rule some ids break is said, with those ids.
  const refuse = (bad: unknown[], rule: string) => {
    if (bad.length > 0) throw new SubjectIdsError(call, `${rule}; ${listed(bad.map(shownJson), 5)} ${bad.length === 1 ? 'is not one' : 'are not'}.`, bad.length);
  };
  const notIds = ids.filter((id) => !(typeof id === 'number' || typeof id === 'string' || typeof id === 'bigint'));
  refuse(notIds, `ids must be strings, numbers or BigInts, the values of ${key}${notIds.some((id) => typeof id === 'object' && id !== null) ? ', not entities' : ''}`);
  refuse(ids.filter(isUnsafeNumber), `ids given as numbers ${UNSAFE_NUMBER_WHY}: give ${key} values as strings (or BigInts)`);
  refuse(ids.filter((id) => !fitsKey(entity.keyKind, String(id))), `${key} is ${KEY_RULES[entity.keyKind]}`);
  return ids.map((id) => canonicalId(entity.keyKind, String(id)));
}

