import { createHash } from 'node:crypto';

/** Thrown with the JSON path of the first value that has no JSON form. */
export class NotJsonError extends Error {
  constructor(readonly path: string, readonly kind: string) {
    super(`${kind} at ${path} has no JSON form`);
  }
}

/**
 * JSON with object keys sorted at every depth, so that equal payloads give equal digests.
 * Honours toJSON (Dates become ISO strings); refuses BigInt, functions, symbols, cycles and
 * non-finite numbers instead of silently dropping or nulling them.
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
      if (!Number.isFinite(value)) throw new NotJsonError(path, `the number ${value}`);
      return JSON.stringify(value);
    case 'bigint':
      throw new NotJsonError(path, `the BigInt ${value}n`);
    case 'undefined':
    case 'function':
    case 'symbol':
      throw new NotJsonError(path, `a ${typeof value}`);
  }
  if (value === null) return 'null';
  const object = value as object;
  if (ancestors.has(object)) throw new NotJsonError(path, 'a circular reference');
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
