import { InvalidJobError } from '../errors';
import type { Change, ChangeOp } from '../ports';

/*
 * The one format of a pending request: what capture, notifyChanged and resync ask of an item, kept in Redis while
 * the item waits and merged there (lib/redis/scripts/schedule.lua, `merge`). A flat object of strings, so that a
 * merge is a union of fields:
 *   at          Redis time (ms) of the first request since the item was last taken
 *   last        with a debounce, Redis time (ms) of the latest request merged in; for a subject found from a
 *               changed row, the row's: a subject whose run was taken after it is not run again (mark.lua)
 *   parent      W3C traceparent of the first request; tp:<traceparent> each further origin (capped)
 *   op:<op>     the ops seen (insert, update, remove); k:<key> the changed keys
 *   snapshot    JSON of the row before its removal (the latest one wins)
 *   was:<JSON>  the row's values before an update that moved it (changed a to-one relation), one field per
 *               distinct one, so that merging keeps every parent it left
 *   force       publish even when the payload is unchanged
 *   attempt     failed runs so far; held: re-delays because the subject was locked elsewhere
 *   back        handed back before its call (finish.lua, "spilled"): "1" once, "2" twice or more (publish-gate.ts, Spillable)
 */
const KEY = 'k:';
const OP = 'op:';
const ORIGIN = 'tp:';
const WAS = 'was:';
const OPS: readonly ChangeOp[] = ['insert', 'update', 'remove'];

export type EncodedRequest = Record<string, string>;

/** What one request says, before merging. */
export interface RequestInput {
  op?: ChangeOp;
  changedKeys?: string[];
  snapshot?: Record<string, unknown>;
  /** The row's values before updates that moved it (CapturedChange.before). */
  before?: Array<Record<string, unknown>>;
  force?: boolean;
  /** The W3C traceparent of the span that made the request. */
  traceparent?: string;
  /**
   * When the change behind it was first requested (Redis' ms), for a subject found from a changed row: its debounce
   * counts from there, not from the mapping, which came only after the row's own debounce (mark.lua).
   */
  at?: number;
  /** With `at`: when the latest change behind it was requested (Redis' ms), the row's `last` (mark.lua). */
  last?: number;
}

/** A request as a run reads it, after any number of merges. */
export interface PendingRequest {
  /** Redis time (ms) of the first request the run covers. */
  firstAt?: number;
  /** Redis time (ms) of the latest request the run covers, when a debounce keeps it. */
  lastAt?: number;
  parent?: string;
  origins: string[];
  ops: ChangeOp[];
  changedKeys: string[];
  snapshot?: Record<string, unknown>;
  /** The row's values before updates that moved it: its mapper is called for each too. */
  before: Array<Record<string, unknown>>;
  force: boolean;
  /** Failed runs before this one. */
  attempt: number;
  /** How often it was handed back before its call already: 0, 1, or 2 for twice or more (publish-gate.ts, Spillable). */
  handedBack: 0 | 1 | 2;
}

/**
 * The request of a change that carries nothing (a subject's own change): one frozen object shared by all of them,
 * since a 1,000-row commit made 1,000 empty ones, alive through its commit (see BENCHMARKS.md, fourteenth round).
 */
export const BARE_REQUEST: EncodedRequest = Object.freeze({});

export function encodeRequest(input: RequestInput): EncodedRequest {
  const fields: EncodedRequest = {};
  if (input.op) fields[`${OP}${input.op}`] = '1';
  for (const key of input.changedKeys ?? []) fields[`${KEY}${key}`] = '1';
  if (input.snapshot) fields.snapshot = JSON.stringify(input.snapshot);
  for (const values of input.before ?? []) fields[`${WAS}${JSON.stringify(values)}`] = '1';
  if (input.force) fields.force = '1';
  if (input.at !== undefined) fields.at = String(Math.floor(input.at));
  if (input.last !== undefined) fields.last = String(Math.floor(input.last));
  if (input.traceparent) {
    fields.parent = input.traceparent;
    fields[`${ORIGIN}${input.traceparent}`] = '1';
  }
  return fields;
}

/**
 * The request a failure record kept (finish.lua), to run the item again with (retryFailed): its fields but for its
 * time and attempts, which start afresh. Anything else (a record of a version before it kept one) is a bare request.
 */
export function retriedRequest(kept: unknown): EncodedRequest {
  if (!kept || typeof kept !== 'object' || Array.isArray(kept)) return BARE_REQUEST;
  const fields: EncodedRequest = {};
  for (const [field, value] of Object.entries(kept)) {
    if (typeof value !== 'string') return BARE_REQUEST;
    if (field !== 'at' && field !== 'last' && field !== 'attempt' && field !== 'held' && field !== 'back') fields[field] = value;
  }
  return fields;
}

/** What a take gives an item requested with no fields (a resync, a change without keys): `{"at":"<ms>"}`. */
const BARE = /^\{"at":"(\d{1,16})"\}$/;

/**
 * Whether a stored request asks to publish even an unchanged payload: a bare one never does, and is told without
 * allocating (a resync's check of an unchanged subject makes this call and little else). Throws as decodeRequest.
 */
export function requestForces(raw: string, where: string): boolean {
  return !BARE.test(raw) && decodeRequest(raw, where).force;
}

/** Parses a stored request; anything but the format above is refused with what was wrong. */
export function decodeRequest(raw: string, where: string): PendingRequest {
  // Most of a backfill's requests are bare: read without JSON.parse and the pass over fields.
  const bare = BARE.exec(raw);
  if (bare) {
    return {
      firstAt: Number(bare[1]), lastAt: undefined, parent: undefined, origins: [], ops: [], changedKeys: [], snapshot: undefined, before: [],
      force: false, attempt: 0, handedBack: 0,
    };
  }
  let fields: unknown;
  try {
    fields = JSON.parse(raw);
  } catch {
    throw malformed(where, raw, 'not JSON');
  }
  if (!fields || typeof fields !== 'object' || Array.isArray(fields)) throw malformed(where, raw, 'not an object');
  // One pass over the fields: a run decodes a request per subject, most of them just {"at": ...}.
  const s = fields as Record<string, string>;
  const origins: string[] = [];
  const ops: ChangeOp[] = [];
  const changedKeys: string[] = [];
  const before: Array<Record<string, unknown>> = [];
  for (const field in s) {
    if (typeof s[field] !== 'string') throw malformed(where, raw, `field "${field}" is not a string`);
    if (field.startsWith(KEY)) changedKeys.push(field.slice(KEY.length));
    else if (field.startsWith(ORIGIN)) origins.push(field.slice(ORIGIN.length));
    else if (field.startsWith(WAS)) before.push(parsedObject(field.slice(WAS.length), where, raw, 'a row\'s earlier values'));
    else if (field.startsWith(OP) && OPS.includes(field.slice(OP.length) as ChangeOp)) ops.push(field.slice(OP.length) as ChangeOp);
  }
  const snapshot = s.snapshot === undefined ? undefined : parsedObject(s.snapshot, where, raw, 'snapshot');
  const count = (field: string) => {
    const n = s[field] === undefined ? 0 : Number(s[field]);
    if (!Number.isInteger(n) || n < 0) throw malformed(where, raw, `${field} is not a count`);
    return n;
  };
  return {
    firstAt: s.at === undefined ? undefined : Number(s.at),
    lastAt: s.last === undefined ? undefined : Number(s.last),
    parent: s.parent,
    origins,
    ops: OPS.filter((op) => ops.includes(op)),
    changedKeys: changedKeys.sort(),
    snapshot,
    before,
    force: s.force === '1',
    attempt: count('attempt'),
    handedBack: s.back === '2' ? 2 : s.back === '1' ? 1 : 0,
  };
}

/**
 * The change a `@SubjectIdsFrom` method sees for merged requests: a row that exists now was inserted (if any
 * request inserted it since the last run) or updated; a row that is gone was removed.
 */
export function changeFor(request: PendingRequest, rowExists: boolean): Change {
  if (!rowExists) return { op: 'remove', changedKeys: request.changedKeys };
  return { op: request.ops.includes('insert') ? 'insert' : 'update', changedKeys: request.changedKeys };
}

function parsedObject(json: string, where: string, raw: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw malformed(where, raw, `${what} is not JSON`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw malformed(where, raw, `${what} is not an object`);
  return value as Record<string, unknown>;
}

function malformed(where: string, raw: string, problem: string): InvalidJobError {
  return new InvalidJobError(`The pending request of ${where} is malformed (${problem}): ${raw.slice(0, 200)}. ` +
    'Requests are written by sync-machine itself; enqueue work with notifyChanged() or resync() instead of writing to its keys.');
}
