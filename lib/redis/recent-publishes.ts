import type Redis from 'ioredis';
import type { KeySpace } from './keys';

/** How many publishes per machine `status` can show; older ones fall off the list. */
export const RECENT_PUBLISHES_KEPT = 100;

export interface RecentPublish {
  subjectId: string;
  /** When the publish was stored, by the worker's clock. */
  at: Date;
}

/**
 * Remembers one publish for `status`: one LPUSH and one LTRIM in a single round trip. The payload table
 * holds the same fact, but reading "the latest N" from it would need a new query in every ORM adapter.
 */
export async function recordPublish(redis: Redis, keys: KeySpace, machine: string, subjectId: string): Promise<void> {
  const key = keys.recentPublishes(machine);
  await redis.multi().lpush(key, `${Date.now()} ${subjectId}`).ltrim(key, 0, RECENT_PUBLISHES_KEPT - 1).exec();
}

/** The latest publishes of a machine, newest first. */
export async function readRecentPublishes(redis: Redis, keys: KeySpace, machine: string, limit: number): Promise<RecentPublish[]> {
  if (limit <= 0) return [];
  const entries = await redis.lrange(keys.recentPublishes(machine), 0, limit - 1);
  return entries.map((entry) => {
    const space = entry.indexOf(' ');
    return { subjectId: entry.slice(space + 1), at: new Date(Number(entry.slice(0, space))) };
  });
}
