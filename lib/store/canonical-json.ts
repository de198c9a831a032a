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
  try {
    return encode(value, []);
  } catch (error) {
    if (!(error instanceof Unencodable)) throw error;
    throw new NotJsonError(pathOf(error.keys.reverse()), error.kind, error.fix);
  }
}

export function digestOf(canonical: string): string {
  return createHash('sha256').update(canonical).digest('hex');
}

/** "$.lines[2].sku": the path of the keys below the top, for an error (built only then). */
function pathOf(keys: Array<string | number>): string {
  return '$' + keys.map((key) => (typeof key === 'number' ? `[${key}]` : `.${key}`)).join('');
}

/** A value with no JSON form; each object or array it is in adds its key on the way out (innermost first). */
class Unencodable extends Error {
  readonly keys: Array<string | number> = [];
  constructor(readonly kind: string, readonly fix: string) {
    super(kind);
  }
}

/** Object keys as JSON strings, kept: payloads repeat the same few keys in every subject. */
const QUOTED_KEYS_KEPT = 10_000;
const quotedKeys = new Map<string, string>();

function quoted(key: string): string {
  let text = quotedKeys.get(key);
  if (text === undefined) {
    text = JSON.stringify(key);
    if (quotedKeys.size < QUOTED_KEYS_KEPT) quotedKeys.set(key, text);
  }
  return text;
}

/*
 * Every subject of a run is encoded, also the unchanged ones of a resync, so this is on the hot path: strings are
 * appended in loops; the path of a value with no JSON form is gathered only as its error passes up (no stack of
 * keys kept on the way down); the objects being encoded are an array (a payload is a few levels deep), not a Set;
 * only objects that are not plain are checked against LOSSY; keys' JSON forms are kept. An order with three lines
 * took 1.4 µs, where a stack of keys and a Set of ancestors took 2.3 µs (JSON.stringify: 0.7 µs), and the unchanged
 * resync of such orders (a trial) spent 7% of its time here.
 */
function encode(value: unknown, ancestors: object[]): string {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON(): unknown }).toJSON();
  }
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new Unencodable(`the number ${value}`, 'use null or a string for it');
      return String(value); // as JSON.stringify writes a finite number (-0 as 0)
    case 'bigint':
      throw new Unencodable(`the BigInt ${value}n`, 'convert it to a string (or a number, if it fits)');
    case 'undefined':
      throw new Unencodable('an undefined value', 'use null, or leave it out of the array');
    case 'function':
      throw new Unencodable('a function', 'call it, or leave it out');
    case 'symbol':
      throw new Unencodable('a symbol', 'convert it with String(symbol), or leave it out');
  }
  if (value === null) return 'null';
  const object = value as object;
  if (ancestors.includes(object)) throw new Unencodable('a circular reference', 'build a plain object without the back reference');
  const isArray = Array.isArray(object);
  const proto: unknown = Object.getPrototypeOf(object);
  if (!isArray && proto !== Object.prototype && proto !== null) {
    for (const [type, kind, fix] of LOSSY) if (object instanceof type) throw new Unencodable(kind, fix);
  }
  ancestors.push(object);
  let out: string;
  if (isArray) {
    const array = object as unknown[];
    out = '[';
    for (let i = 0; i < array.length; i++) out += (i > 0 ? ',' : '') + encodeAt(array[i], i, ancestors);
    out += ']';
  } else {
    const record = object as Record<string, unknown>;
    const names = Object.keys(record).sort();
    out = '{';
    let first = true;
    for (let i = 0; i < names.length; i++) {
      const key = names[i];
      const value = record[key];
      if (value === undefined) continue; // as JSON.stringify does
      out += (first ? '' : ',') + quoted(key) + ':' + encodeAt(value, key, ancestors);
      first = false;
    }
    out += '}';
  }
  ancestors.pop();
  return out;
}

/** encode() of the value under `key` of an array or object: a value with no JSON form below it gets the key in its path. */
function encodeAt(value: unknown, key: string | number, ancestors: object[]): string {
  try {
    return encode(value, ancestors);
  } catch (error) {
    if (error instanceof Unencodable) error.keys.push(key);
    throw error;
  }
}
