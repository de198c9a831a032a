import type Redis from 'ioredis';
import { requeueFailedTickets } from '../queue/bee-queue-storage';
import type { KeySpace, Step } from '../redis/keys';
import { retriedRequest, type EncodedRequest } from '../pipeline/requests';
import { STEPS } from '../pipeline/queues';

/** A subject (or changed row) whose runs used up their attempts; a later change or retryFailed runs it again. */
export interface FailedItem {
  step: Step;
  /** The subject entity (ensure-publication) or the changed row's entity (find-subjects). */
  entity: string;
  id: string;
  /** Runs made, the first included. */
  attempts: number;
  /** When the last attempt failed. */
  at: Date;
  /** The last attempt's error. */
  error: string;
}

/** Items recorded as failed, read per step to pick the newest from. */
const FAILED_SCAN_CAP = 1000;

/** The newest `limit` failures of both steps of a machine. */
export async function readFailures(
  redis: Redis, keys: KeySpace, machine: string, subjectEntity: string, steps: readonly Step[], limit: number,
): Promise<FailedItem[]> {
  if (limit <= 0) return [];
  const found: FailedItem[] = [];
  for (const step of steps) {
    const entries = await scanHash(redis, keys.step(machine, step).failed, FAILED_SCAN_CAP);
    for (const [item, raw] of entries) found.push(parseFailure(step, subjectEntity, item, parseRecord(raw)));
  }
  return found.sort((a, b) => b.at.getTime() - a.at.getTime()).slice(0, limit);
}

/**
 * Every failure of `steps` recorded at or after `sinceUs` (µs on Redis' clock), oldest first; reads whole hashes.
 * Compared in µs: in ms, a failure recorded in the millisecond of a drain's call, just before it, counted as after.
 * A record without `us` (written by an earlier version) is compared in ms.
 */
export async function readFailuresSince(
  redis: Redis, keys: KeySpace, machine: string, subjectEntity: string, steps: readonly Step[], sinceUs: number,
): Promise<FailedItem[]> {
  const found: FailedItem[] = [];
  for (const step of steps) {
    for (const [item, raw] of await scanHash(redis, keys.step(machine, step).failed, Infinity)) {
      const record = parseRecord(raw);
      const failure = parseFailure(step, subjectEntity, item, record);
      const us = Number(record.us);
      const after = Number.isFinite(us) && us > 0 ? us >= sinceUs : failure.at.getTime() >= Math.floor(sinceUs / 1000);
      if (after) found.push(failure);
    }
  }
  return found.sort((a, b) => a.at.getTime() - b.at.getTime());
}

/** The failure record of one subject, or undefined when it has none. */
export async function readFailure(
  redis: Redis, keys: KeySpace, machine: string, subjectEntity: string, subjectId: string,
): Promise<FailedItem | undefined> {
  const raw = await redis.hget(keys.step(machine, 'ensure-publication').failed, subjectId);
  return raw === null ? undefined : parseFailure('ensure-publication', subjectEntity, subjectId, parseRecord(raw));
}

/** A failure record as finish-19.lua writes it (JSON); what cannot be read is left out. */
interface FailureRecord {
  error?: unknown;
  attempts?: unknown;
  at?: unknown;
  us?: unknown;
}

function parseRecord(raw: string): FailureRecord {
  try {
    const record: unknown = JSON.parse(raw);
    return record !== null && typeof record === 'object' ? record as FailureRecord : {};
  } catch {
    return {}; // shown with what can be read
  }
}

/** A failure record, shown with what can be read. */
function parseFailure(step: Step, subjectEntity: string, item: string, record: FailureRecord): FailedItem {
  const colon = item.indexOf(':');
  const about = step === 'ensure-publication'
    ? { entity: subjectEntity, id: item } : { entity: item.slice(0, colon), id: item.slice(colon + 1) };
  return {
    step, ...about, attempts: Number(record.attempts) || 1, at: new Date(Number(record.at) || 0),
    error: typeof record.error === 'string' ? record.error : '(no error recorded)',
  };
}

async function scanHash(redis: Redis, key: string, cap: number): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscan(key, cursor, 'COUNT', 500);
    cursor = next;
    for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  } while (cursor !== '0' && out.length < cap);
  return out.slice(0, cap);
}

/**
 * Takes every failure record of `steps` and hands its items to `request`, which makes them pending again with
 * fresh attempts (each run loads and builds from current data). Returns how many went back per step.
 */
export async function takeFailures(
  redis: Redis, keys: KeySpace, machine: string, steps: readonly Step[],
  request: (step: Step, requests: Array<[string, EncodedRequest]>) => Promise<void>,
): Promise<Partial<Record<Step, number>>> {
  const counts: Partial<Record<Step, number>> = {};
  for (const step of steps) {
    const key = keys.step(machine, step).failed;
    let count = 0;
    for (;;) {
      const entries = await scanHash(redis, key, 500);
      if (entries.length === 0) break;
      const items = entries.map(([item]) => item);
      // With the request the record kept: a removed row's snapshot, say, which its mapper needs.
      await request(step, entries.map(([item, raw]) => [item, retriedRequest(keptRequest(raw))])); // pending first: a crash between the two loses no failure
      await redis.hdel(key, ...items);
      count += items.length;
    }
    await requeueFailedTickets(redis, keys, machine, step);
    counts[step] = count;
  }
  return counts;
}

/** The request a failure record kept, if it parses: undefined otherwise (retriedRequest makes that a bare one). */
function keptRequest(raw: string): unknown {
  try {
    return (JSON.parse(raw) as { request?: unknown } | null)?.request;
  } catch {
    return undefined;
  }
}

/**
 * Said as a worker starts: the subjects and changed rows recorded as failed, which no start runs again. A trial
 * fixed a `@SubjectIdsFrom` that returned entities, restarted, and its orders stayed stale, nothing said, until it
 * found retryFailed. Best effort: status() lists them as well.
 */
export async function tellFailures(
  redis: Redis, keys: KeySpace, machines: ReadonlyArray<{ name: string; className: string }>, warn: (line: string) => void,
): Promise<void> {
  let counts: number[];
  try {
    const pipeline = redis.pipeline();
    for (const m of machines) for (const step of STEPS) pipeline.hlen(keys.step(m.name, step).failed);
    counts = ((await pipeline.exec()) ?? []).map(([error, n]) => (error ? 0 : Number(n)));
  } catch {
    return;
  }
  machines.forEach((m, i) => {
    const failed = (step: Step) => counts[STEPS.length * i + STEPS.indexOf(step)] ?? 0;
    const [subjects, rows] = [failed('ensure-publication'), failed('find-subjects')];
    if (subjects + rows === 0) return;
    const what = [subjects > 0 ? `${subjects} subject(s)` : '', rows > 0 ? `${rows} changed row(s)` : ''].filter(Boolean).join(' and ');
    warn(`${m.className}: ${what} recorded as failed (attempts used up) run again on a change of their own or on ` +
      `retryFailed, not at a start. Once what failed is fixed, run them from current data: \`npx sync-machine ` +
      `retry-failed ${m.className}\` or \`await sync.retryFailed(${m.className})\` (\`status\` lists them with their errors; ` +
      'a full resync runs failed subjects too, where it is due anyway).');
  });
}
