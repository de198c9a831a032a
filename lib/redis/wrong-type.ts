import type Redis from 'ioredis';
import { describeError, WrongKeyTypeError } from '../errors';
import type { KeySpace, RedisType } from './keys';

/*
 * Redis refuses a command or script given a key of another type (WRONGTYPE) without saying which key: with a dozen
 * keys per script, "delete it" told nobody what to delete. Only on that error path, the keys it was given are
 * looked at (TYPE of each, one pipeline) and compared with the type sync-machine keeps each in (KeySpace.keyType).
 */

/** Redis' answer to a command on a key that holds another type of value. */
export function isWrongTypeError(error: unknown): boolean {
  return error instanceof Error && /\bWRONGTYPE\b/.test(error.message);
}

/** A key under the prefix that holds another type than sync-machine keeps there. */
export interface WrongTypeKey {
  key: string;
  /** What TYPE answered: 'string', 'list', ... */
  found: string;
  expected: RedisType;
}

/** The keys each refused script was given (lib/redis/scripts.ts), for wrongTypeKeys. */
const given = new WeakMap<Error, readonly string[]>();

/** Remembers the keys a script that Redis refused with WRONGTYPE was given. */
export function rememberKeys(error: unknown, keys: readonly string[]): void {
  if (error instanceof Error && isWrongTypeError(error)) given.set(error, keys);
}

/**
 * For a WRONGTYPE error, the keys of `candidates` (by default those its script was given) whose type is not the one
 * sync-machine keeps there; a key that does not exist is fine (Redis creates it). [] for any other error, or when
 * Redis does not answer the TYPE calls: this only explains an error, it never adds one.
 */
export async function wrongTypeKeys(
  redis: Redis, keys: KeySpace, error: unknown, candidates: readonly string[] | undefined = given.get(error as Error),
): Promise<WrongTypeKey[]> {
  if (!isWrongTypeError(error) || !candidates) return [];
  return keysOfWrongType(redis, keys, candidates);
}

/**
 * Of `candidates`, the keys whose type is not the one sync-machine keeps there (one TYPE each, in one round trip);
 * [] when Redis does not answer.
 */
export async function keysOfWrongType(redis: Redis, keys: KeySpace, candidates: readonly string[]): Promise<WrongTypeKey[]> {
  const checked = [...new Set(candidates)].filter((key) => keys.keyType(key) !== undefined);
  if (checked.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const key of checked) pipeline.type(key);
  let results: Array<[Error | null, unknown]>;
  try {
    results = (await pipeline.exec()) ?? [];
  } catch {
    return [];
  }
  return checked.flatMap((key, i) => {
    const [failed, found] = results[i] ?? [null, 'none'];
    const expected = keys.keyType(key)!;
    return failed || found === 'none' || found === expected ? [] : [{ key, found: String(found), expected }];
  });
}

/**
 * "<key> is a string, where sync-machine keeps a zset: delete it (redis-cli DEL '<key>'), then <then>"; `then` says
 * what brings back what the key held (a resync of the machine).
 */
export function sayWrongTypes(found: WrongTypeKey[], then: string): string {
  const each = found.map((k) => `${k.key} is a ${k.found}, where sync-machine keeps a ${k.expected}`).join('; ');
  const del = found.map((k) => `'${k.key.replace(/'/g, "'\\''")}'`).join(' ');
  return `${each}: delete ${found.length === 1 ? 'it' : 'them'} (redis-cli DEL ${del}), then ${then}`;
}

/**
 * For a WRONGTYPE refusal: the keys of `candidates` (by default those its script was given) that hold the wrong type,
 * said with their fix (sayWrongTypes; `then(found)` ends it); undefined for any other error or when none is found.
 */
export async function wrongTypeFix(
  redis: Redis, keys: KeySpace, error: unknown, then: (found: WrongTypeKey[]) => string,
  candidates: readonly string[] | undefined = given.get(error as Error),
): Promise<string | undefined> {
  const wrong = await wrongTypeKeys(redis, keys, error, candidates);
  return wrong.length === 0 ? undefined : sayWrongTypes(wrong, then(wrong));
}

/**
 * A read of these machines' keys that Redis refused (`refusal`: "status of OrderToApiSync: Redis refused to read
 * it"): a WrongKeyTypeError naming the keys of the wrong type and the fix, or `error` itself when none is found.
 * Looks every key of the machines up, only on this error path (one round trip).
 */
export async function refusedRead(
  redis: Redis, keys: KeySpace, error: unknown, refusal: string, machines: Array<{ name: string; className?: string }>,
): Promise<unknown> {
  const named = machines.map((m) => m.className ?? m.name).join(', ');
  const fix = await wrongTypeFix(redis, keys, error, () => `resync ${named}`, machines.flatMap((m) => keys.machineKeys(m.name)));
  return fix === undefined ? error : new WrongKeyTypeError(`${refusal} (${describeError(error)}): ${fix}.`, { cause: error });
}
