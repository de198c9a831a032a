import type Redis from 'ioredis';

/*
 * Coalescing with a per-item generation counter, kept in Redis.
 *
 * mark(item) reads the item's generation g and merges the request into the pending hash
 * `p:<item>:<g>`; the caller then saves a job with the id `<item>@<g>`. Bee-Queue refuses a
 * second job with that id while the first exists, so requests of one generation share one job.
 *
 * claim(item, g, job), called when a run starts reading, moves `p:<item>:<g>` into the job's
 * `claimed:<job>` hash and increments the generation in the same script. Every request merged
 * before the claim is thereby covered by a read that starts after it; every request after it
 * sees g+1 and makes a new job. A job whose generation was already claimed by another job is
 * superseded. A retry of a job that claimed keeps running: it finds its own `claimed:` hash,
 * takes whatever pending requests arrived since and increments again.
 *
 * The generation is a logical clock on Redis alone, so skewed host clocks cannot lose an update.
 */

/** Trace origins kept per generation; the run links to each (span links). */
export const MAX_ORIGINS = 32;
/** Pending-hash field prefix of a trace origin: `tp:<traceparent>`. */
export const ORIGIN_FIELD = 'tp:';

/** The trace origins recorded in claimed data. */
export function originsOf(data: Record<string, string>): string[] {
  return Object.keys(data).filter((f) => f.startsWith(ORIGIN_FIELD)).map((f) => f.slice(ORIGIN_FIELD.length));
}

const MARK = `
local ns = ARGV[1]
local items = cjson.decode(ARGV[2])
local t = redis.call('TIME')
local now = tostring(t[1] * 1000 + math.floor(t[2] / 1000))
local gens = {}
for i, item in ipairs(items) do
  local g = redis.call('HGET', ns .. ':gen', item[1]) or '0'
  local pending = ns .. ':p:' .. item[1] .. ':' .. g
  redis.call('HSETNX', pending, 'at', now)
  local fields = item[2]
  for j = 1, #fields, 2 do
    local field = fields[j]
    if string.sub(field, 1, 3) ~= 'tp:' then
      redis.call('HSET', pending, field, fields[j + 1])
    elseif redis.call('HEXISTS', pending, field) == 0 and tonumber(redis.call('HGET', pending, 'tpn') or '0') < ${MAX_ORIGINS} then
      -- trace origins are capped: a burst of writes must not grow one hash without bound
      redis.call('HSET', pending, field, fields[j + 1])
      redis.call('HINCRBY', pending, 'tpn', 1)
    end
  end
  gens[i] = g
end
return {now, gens}
`;

const CLAIM = `
local ns, item, gen, job, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tostring(t[1] * 1000 + math.floor(t[2] / 1000))
local cur = tonumber(redis.call('HGET', ns .. ':gen', item) or '0')
local claimed = ns .. ':claimed:' .. job
if cur ~= gen and redis.call('EXISTS', claimed) == 0 then return {'superseded', now} end
local pending = ns .. ':p:' .. item .. ':' .. cur
local fields = redis.call('HGETALL', pending)
for j = 1, #fields, 2 do
  if fields[j] == 'at' then redis.call('HSETNX', claimed, 'at', fields[j + 1])
  else redis.call('HSET', claimed, fields[j], fields[j + 1]) end
end
redis.call('DEL', pending)
redis.call('HSET', claimed, 'claimedAt', now)
redis.call('EXPIRE', claimed, ttl)
redis.call('HINCRBY', ns .. ':gen', item, 1)
return {'claimed', now, redis.call('HGETALL', claimed)}
`;

const PEEK = `
local ns, item, gen, job = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local cur = tonumber(redis.call('HGET', ns .. ':gen', item) or '0')
if cur ~= gen and redis.call('EXISTS', ns .. ':claimed:' .. job) == 0 then return 1 end
return 0
`;

/** Claimed data stays this long for a failed job to be retried by hand. */
const CLAIMED_TTL_SECONDS = 30 * 24 * 3600;

export interface MarkRequest {
  item: string;
  /** Field/value pairs merged into the pending hash; later requests overwrite earlier ones. */
  fields?: Record<string, string>;
}

export type Claim =
  | { superseded: true; now: number }
  | { superseded: false; now: number; data: Record<string, string> };

interface CoalescingCommands {
  smMark(ns: string, items: string): Promise<[string, string[]]>;
  smClaim(ns: string, item: string, gen: string, job: string, ttl: number): Promise<[string, string, string[]?]>;
  smPeek(ns: string, item: string, gen: string, job: string): Promise<number>;
}

export function defineCoalescingCommands(redis: Redis): void {
  redis.defineCommand('smMark', { numberOfKeys: 0, lua: MARK });
  redis.defineCommand('smClaim', { numberOfKeys: 0, lua: CLAIM });
  redis.defineCommand('smPeek', { numberOfKeys: 0, lua: PEEK });
}

export function jobIdFor(item: string, gen: string): string {
  return `${item}@${gen}`;
}

/** One step's coalescing state for one machine. */
export class Coalescer {
  private readonly commands: CoalescingCommands;

  constructor(private readonly redis: Redis, readonly namespace: string) {
    this.commands = redis as unknown as CoalescingCommands;
  }

  /** Records requests; returns Redis' time (ms) and each item's generation, in order. */
  async mark(requests: MarkRequest[]): Promise<{ now: number; gens: string[] }> {
    const encoded = JSON.stringify(requests.map((r) => [r.item, flatten(r.fields)]));
    const [now, gens] = await this.commands.smMark(this.namespace, encoded);
    return { now: Number(now), gens };
  }

  async claim(item: string, gen: string, jobId: string): Promise<Claim> {
    const [status, now, flat] = await this.commands.smClaim(this.namespace, item, gen, jobId, CLAIMED_TTL_SECONDS);
    if (status === 'superseded') return { superseded: true, now: Number(now) };
    return { superseded: false, now: Number(now), data: unflatten(flat ?? []) };
  }

  /** True when another job already claimed this generation (no lock needed to know). */
  async isSuperseded(item: string, gen: string, jobId: string): Promise<boolean> {
    return (await this.commands.smPeek(this.namespace, item, gen, jobId)) === 1;
  }

  /** Forgets a job's claimed data once its run succeeded. */
  async release(jobId: string): Promise<void> {
    await this.redis.del(`${this.namespace}:claimed:${jobId}`);
  }
}

function flatten(fields: Record<string, string> | undefined): string[] {
  // An empty Lua table encodes as {} in cjson; an array of pairs stays an array.
  return fields ? Object.entries(fields).flat() : [];
}

function unflatten(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}
