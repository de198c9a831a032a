import { createHash } from 'node:crypto';

/** Thrown with the JSON path of the first value that has no JSON form, and how to give it one. */
export class NotJsonError extends Error {
  constructor(readonly path: string, readonly kind: string, readonly fix: string) {
    super(`${kind} at ${path} has no JSON form`);
  }
}

/**
 * Objects that JSON.stringify turns into `{}` (or `{"0":..}`), losing what they hold: published so, a Map of
 * lines reached the partner as `{}`. A Promise there is a build that forgot an `await`.
 */
const LOSSY: Array<[new (...args: never[]) => object, string, string]> = [
  [Map, 'a Map', 'convert it with Object.fromEntries(map) or [...map]'],
  [Set, 'a Set', 'convert it with [...set]'],
  [Promise, 'a Promise', 'await it in @Build'],
  [WeakMap, 'a WeakMap', 'leave it out'],
  [WeakSet, 'a WeakSet', 'leave it out'],
  [RegExp, 'a RegExp', 'convert it with String(regexp)'],
  [Error, 'an Error', 'convert it with error.message'],
];

/**
 * JSON with object keys sorted at every depth, so that equal payloads give equal digests.
 * Honours toJSON (Dates become ISO strings); refuses BigInt, functions, symbols, cycles, non-finite numbers and
 * objects JSON would empty (a Map, a Set, a Promise) instead of silently dropping, nulling or emptying them.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, '$', new Set());
}

export function digestOf(canonical: string): string {
  return createHash('sha256').update(canonical).digest('hex');
}

function encode(value: unknown, path: string, ancestors: Set<object>): string {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON(): unknown }).toJSON();
  }
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new NotJsonError(path, `the number ${value}`, 'use null or a string for it');
      return JSON.stringify(value);
    case 'bigint':
      throw new NotJsonError(path, `the BigInt ${value}n`, 'convert it to a string (or a number, if it fits)');
    case 'undefined':
      throw new NotJsonError(path, 'an undefined value', 'use null, or leave it out of the array');
    case 'function':
      throw new NotJsonError(path, 'a function', 'call it, or leave it out');
    case 'symbol':
      throw new NotJsonError(path, 'a symbol', 'convert it with String(symbol), or leave it out');
  }
  if (value === null) return 'null';
  const object = value as object;
  if (ancestors.has(object)) throw new NotJsonError(path, 'a circular reference', 'build a plain object without the back reference');
  for (const [type, kind, fix] of LOSSY) if (object instanceof type) throw new NotJsonError(path, kind, fix);
  ancestors.add(object);
  let out: string;
  if (Array.isArray(object)) {
    out = `[${object.map((item, i) => encode(item, `${path}[${i}]`, ancestors)).join(',')}]`;
  } else {
    const entries = Object.keys(object)
      .filter((key) => (object as Record<string, unknown>)[key] !== undefined) // as JSON.stringify does
      .sort()
      .map((key) => `${JSON.stringify(key)}:${encode((object as Record<string, unknown>)[key], `${path}.${key}`, ancestors)}`);
    out = `{${entries.join(',')}}`;
  }
  ancestors.delete(object);
  return out;
}
