import type Redis from 'ioredis';
import type { Logger } from '../logger';

/**
 * Warns when Redis may evict keys: with a memory limit and a policy other than noeviction, a full Redis drops
 * keys to make room, and sync-machine's (pending changes, subject locks, run tickets) would go without a word:
 * updates lost, or two runs publishing one subject. With noeviction a full Redis refuses writes, which capture and
 * the workers report. Read from INFO, which managed Redis services answer where they refuse CONFIG.
 */
export async function warnIfEvicting(redis: Redis, describe: string, logger: Logger): Promise<void> {
  const field = await infoFields(redis, 'memory');
  if (!field) return; // INFO refused (a proxy, an ACL): nothing to tell
  const limit = Number(field('maxmemory') ?? '0');
  const policy = field('maxmemory_policy');
  if (!limit || !policy || policy === 'noeviction') return;
  const which = policy.startsWith('volatile') ? 'keys that have an expiry (a RetryAfter pause)' : 'any key';
  logger.warn(`Redis at ${describe} has maxmemory ${limit} bytes with maxmemory-policy ${policy}: when full it evicts ${which}, ` +
    "and sync-machine's keys go with no error (pending changes lost, a lock gone while its run publishes). " +
    'Set maxmemory-policy noeviction (a full Redis then refuses writes, and they are reported), or give sync-machine a Redis of its own.');
}

/**
 * Keys this Redis has evicted so far under an evicting policy, with the policy; undefined when it evicts nothing (or
 * INFO is refused). A loss found while connected is then said as eviction, not only as a FLUSHALL (a trial's Redis at
 * maxmemory 2mb with allkeys-lru emptied the prefix, and the log named FLUSHALL four times).
 */
export async function evictions(redis: Redis): Promise<{ policy: string; evicted: number } | undefined> {
  const field = await infoFields(redis);
  if (!field) return undefined;
  const policy = field('maxmemory_policy');
  const evicted = Number(field('evicted_keys') ?? '0');
  if (!policy || policy === 'noeviction' || !(evicted > 0)) return undefined;
  return { policy, evicted };
}

/** A reader of INFO's fields (of `section`, or the default ones), or undefined when Redis refuses INFO. */
async function infoFields(redis: Redis, section?: string): Promise<((name: string) => string | undefined) | undefined> {
  let info: string;
  try {
    info = section ? await redis.info(section) : await redis.info();
  } catch {
    return undefined;
  }
  return (name) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}
