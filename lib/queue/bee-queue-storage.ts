import type Redis from 'ioredis';
import { InvalidJobError } from '../errors';
import type { KeySpace, Step } from '../redis/keys';

/*
 * The only code that knows how Bee-Queue 2 stores jobs: a hash `jobs` of id -> JSON {data, options, status,
 * progress}, lists `waiting` and `active`, zset `delayed` (score: when to run), set `failed`, a counter `id`.
 * Our jobs are run tickets: "run machine M's step S"; what to run is in the work set (lib/pipeline/work-queue.ts).
 * The work scripts create tickets inside Redis, in the same format Bee-Queue's own addJob script writes.
 */

/** A ticket's data. */
export interface TicketData {
  v: 2;
  machine: string;
  step: Step;
}

/** A ticket whose run fails (Redis gone mid-run) is run again by Bee-Queue: its claims are recovered then. */
const TICKET_RETRIES = 1000;
const TICKET_RETRY_DELAY_MS = 1000;

/** A new ticket as Bee-Queue's Job#toData would write it. */
export function ticketJson(machine: string, step: Step): string {
  const [head, tail] = ticketTemplate(machine, step);
  return `${head}${Date.now()}${tail}`;
}

/** The JSON of a machine's step's ticket around its timestamp: every take and finish sends a ticket. */
const templates = new Map<string, [head: string, tail: string]>();
const STAMP = -1;

function ticketTemplate(machine: string, step: Step): [string, string] {
  const key = `${machine}\n${step}`;
  let template = templates.get(key);
  if (!template) {
    const data: TicketData = { v: 2, machine, step };
    const json = JSON.stringify({
      data,
      options: { timestamp: STAMP, stacktraces: [], retries: TICKET_RETRIES, backoff: { strategy: 'fixed', delay: TICKET_RETRY_DELAY_MS } },
      status: 'created', progress: 0,
    });
    const at = json.indexOf(`"timestamp":${STAMP}`) + '"timestamp":'.length;
    template = [json.slice(0, at), json.slice(at + String(STAMP).length)];
    templates.set(key, template);
  }
  return template;
}

/** Checks a ticket Bee-Queue handed to a worker; anything else in the queue is refused with what was wrong. */
export function parseTicket(data: unknown, queue: string, jobId: string, machine: string, step: Step): TicketData {
  const problem = ticketProblem(data, machine, step);
  if (problem) {
    let shown: string;
    try { shown = JSON.stringify(data) ?? String(data); } catch { shown = String(data); }
    throw new InvalidJobError(`Job ${jobId} in ${queue} is malformed (${problem}): ${shown.slice(0, 200)}. ` +
      'Jobs are written by sync-machine itself; enqueue work with notifyChanged() or resync() instead of writing to its queues.');
  }
  return data as TicketData;
}

function ticketProblem(data: unknown, machine: string, step: Step): string | undefined {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return 'not an object';
  const d = data as Partial<TicketData>;
  if (d.v !== 2) return 'unknown version';
  if (d.machine !== machine) return `machine is not "${machine}"`;
  if (d.step !== step) return `step is not "${step}"`;
  return undefined;
}

/**
 * What is wrong with a job's stored envelope (the `jobs` hash value), in terms Bee-Queue would trip over:
 * `Job.fromData` parses it without a guard, `new Job` writes into `options`, `_finishJob` unshifts into
 * `options.stacktraces` and schedules with `options.backoff`. Any of these failing leaves the id in `active`,
 * where the stall check puts it back in `waiting`: it would be re-run forever. Undefined when it is sound.
 */
export function envelopeProblem(raw: string): string | undefined {
  let envelope: unknown;
  try { envelope = JSON.parse(raw); } catch { return 'the job hash value is not JSON'; }
  if (!envelope || typeof envelope !== 'object' || Array.isArray(envelope)) return `the job hash value is ${kind(envelope)}, not an object`;
  const options = (envelope as { options?: unknown }).options;
  if (options === undefined || options === null) return undefined; // Bee-Queue fills in defaults
  if (typeof options !== 'object' || Array.isArray(options)) return `options is ${kind(options)}, not an object`;
  const o = options as Record<string, unknown>;
  for (const field of ['timestamp', 'retries', 'timeout', 'delay'] as const) {
    if (o[field] !== undefined && !(typeof o[field] === 'number' && Number.isFinite(o[field]))) {
      return `options.${field} is ${kind(o[field])}, not a number`;
    }
  }
  if (o.stacktraces !== undefined && !Array.isArray(o.stacktraces)) return `options.stacktraces is ${kind(o.stacktraces)}, not an array`;
  const backoff = o.backoff as Record<string, unknown> | undefined | null;
  if (backoff !== undefined && backoff !== null) {
    if (typeof backoff !== 'object' || Array.isArray(backoff)) return `options.backoff is ${kind(backoff)}, not an object`;
    if (typeof backoff.strategy !== 'string') return `options.backoff.strategy is ${kind(backoff.strategy)}, not a string`;
    if (backoff.delay !== undefined && !(typeof backoff.delay === 'number' && Number.isFinite(backoff.delay))) {
      return `options.backoff.delay is ${kind(backoff.delay)}, not a number`;
    }
  }
  return undefined;
}

function kind(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value === 'string' ? 'the string' : 'the ' + typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
}

/**
 * The envelope a corrupt job is replaced with in the failed set: readable by Bee-Queue and by `status`, never
 * run again (`retries` 0, its data is not a ticket, so `retryFailed` drops it), the original kept for inspection.
 */
export function failedEnvelopeJson(raw: string, error: string): string {
  return JSON.stringify({
    data: { corruptEnvelope: raw.slice(0, 2000) },
    options: { timestamp: Date.now(), stacktraces: [error], retries: 0 },
    status: 'failed', progress: 0,
  });
}

/** A ticket Bee-Queue failed for good: malformed, or a corrupt envelope. */
export interface FailedTicket {
  /** The queue's full name, `<prefix>:<machine>:<step>`. */
  queue: string;
  jobId: string;
  /** The last error, its first line. */
  error: string;
  /** When the job was written (Bee-Queue's timestamp). */
  at: Date;
}

/** The failed tickets of one queue, at most `limit`, read from Bee-Queue's failed set. */
export async function readFailedTickets(
  redis: Redis, keys: KeySpace, machine: string, step: Step, limit: number,
): Promise<FailedTicket[]> {
  if (limit <= 0) return [];
  const ids = (await redis.srandmember(keys.queueKey(machine, step, 'failed'), limit)) as string[];
  if (ids.length === 0) return [];
  const raws = await redis.hmget(keys.queueKey(machine, step, 'jobs'), ...ids);
  const queue = `${keys.prefix}:${keys.queueName(machine, step)}`;
  return ids.map((jobId, i) => {
    let options: { stacktraces?: unknown; timestamp?: unknown } = {};
    try { options = JSON.parse(raws[i] ?? 'null')?.options ?? {}; } catch { /* shown as unknown below */ }
    const trace = Array.isArray(options.stacktraces) ? String(options.stacktraces[0] ?? '') : '';
    const error = trace.split('\n')[0].replace(/^\w*Error: /, '') || '(no error recorded)';
    return { queue, jobId, error, at: new Date(Number(options.timestamp) || 0) };
  }).sort((a, b) => b.at.getTime() - a.at.getTime());
}

/** Tickets of one queue by state. */
export interface TicketCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

/** Reads the ticket counts of several queues in one round trip. */
export async function readTicketCounts(
  redis: Redis, keys: KeySpace, queues: Array<{ machine: string; step: Step }>,
): Promise<TicketCounts[]> {
  const pipeline = redis.pipeline();
  for (const { machine, step } of queues) {
    pipeline.llen(keys.queueKey(machine, step, 'waiting')).llen(keys.queueKey(machine, step, 'active'))
      .zcard(keys.queueKey(machine, step, 'delayed')).scard(keys.queueKey(machine, step, 'failed'));
  }
  const values = await execAll(pipeline);
  return queues.map((_, i) => {
    const [waiting, active, delayed, failed] = values.slice(i * 4, i * 4 + 4).map(Number);
    return { waiting, active, delayed, failed };
  });
}

/**
 * Puts failed tickets back in their queue with fresh retries (a ticket fails for good only when Redis failed it
 * a thousand times, or its data is not a ticket: those are dropped, having nothing to run). Returns how many.
 */
export async function requeueFailedTickets(redis: Redis, keys: KeySpace, machine: string, step: Step): Promise<number> {
  const failed = keys.queueKey(machine, step, 'failed');
  const jobs = keys.queueKey(machine, step, 'jobs');
  const ids = await redis.smembers(failed);
  if (ids.length === 0) return 0;
  const raws = await redis.hmget(jobs, ...ids);
  const pipeline = redis.pipeline();
  let moved = 0;
  ids.forEach((id, i) => {
    pipeline.srem(failed, id);
    let data: unknown;
    try { data = JSON.parse(raws[i] ?? 'null')?.data; } catch { data = undefined; }
    if (ticketProblem(data, machine, step)) {
      pipeline.hdel(jobs, id);
      return;
    }
    pipeline.hset(jobs, id, ticketJson(machine, step)).lpush(keys.queueKey(machine, step, 'waiting'), id);
    moved += 1;
  });
  await execAll(pipeline);
  return moved;
}

async function execAll(pipeline: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  for (const [error] of results) if (error) throw error;
  return results.map(([, value]) => value);
}
