import type Redis from 'ioredis';
import { redisNowMs } from './data-loss';
import type { KeySpace } from './keys';

/*
 * Inbox entries that no script could read (written by hand, or by another version): the changes in them may be
 * gone. A worker's log line said so once, and then status read "failures: none" with every queue empty while 500
 * orders were stale (a trial). The notice stays on the machine (keys.unreadable: `count`, and `at`, Redis' ms of the
 * latest) for status and drain to tell, until a full resync, which covers whatever those entries stood for
 * (lib/redis/resync-notices.ts reads and clears it).
 */

/** What status and drain tell of a machine's unreadable inbox entries: how many, and when the latest was found. */
export interface UnreadableNotice {
  count: number;
  at: Date;
}

/** Adds `count` entries found now to the machine's notice. Best effort: the log line says it all the same. */
export async function recordUnreadable(client: Redis, keys: KeySpace, machine: string, count: number): Promise<void> {
  const key = keys.unreadable(machine);
  try {
    // Redis' clock, as a resync's start is read with it (clearResyncNotices).
    const at = await redisNowMs(client);
    await client.multi().hincrby(key, 'count', count).hset(key, 'at', String(at)).exec();
  } catch {
    // Said in the log all the same.
  }
}

/** The notice as read from Redis (HGETALL), or undefined when there is none or it is not of this form (by hand). */
export function unreadableNotice(fields: unknown): UnreadableNotice | undefined {
  const f = (fields ?? {}) as Record<string, string>;
  const count = Number(f.count);
  const at = new Date(Number(f.at));
  return Number.isInteger(count) && count > 0 && Number.isFinite(at.getTime()) ? { count, at } : undefined;
}
