import type Redis from 'ioredis';
import { withTimeout } from '../at-most';
import { redisNowMs } from './data-loss';
import type { KeySpace } from './keys';

/** How long a look for other machines' keys may take: it walks the whole keyspace (SCAN), and only informs. */
const LOOK_MS = 2_000;
/** Keys SCAN looks at per call. */
const SCAN_COUNT = 1_000;

/**
 * The machines Redis holds counters of under this prefix (`<prefix>:<name>:stats`, kept from a machine's first run)
 * that are not in `known`: a machine renamed or removed in the app, whose pending work and payload rows stay under
 * its old name, which nothing else says (a trial renamed one: 330 items stranded, every order published again with
 * ctx.version from 1). At most LOOK_MS; none when Redis does not answer in time.
 */
export async function otherMachines(redis: Redis, keys: KeySpace, known: readonly string[]): Promise<string[]> {
  const names = new Set<string>();
  const head = `${keys.prefix}:`;
  const pattern = `${globEscaped(keys.prefix)}:*:stats`;
  const scan = async () => {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (const key of found) {
        const name = key.slice(head.length, -':stats'.length);
        // Machine names have no colon (discover.ts): anything else is not a machine's counters.
        if (/^[A-Za-z0-9_.-]+$/.test(name) && key === keys.stats(name) && !known.includes(name)) names.add(name);
      }
    } while (cursor !== '0');
  };
  try {
    await withTimeout(scan(), LOOK_MS);
  } catch {
    return [];
  }
  return [...names].sort();
}

/** Work a machine this process does not start has in Redis: items pending and in runs, and its live workers. */
export interface OtherMachineWork {
  machine: string;
  pending: number;
  inRuns: number;
  workers: number;
}

/** The work of each of `machines` (from otherMachines) in Redis, one round trip. */
export async function otherMachinesWork(redis: Redis, keys: KeySpace, machines: string[]): Promise<OtherMachineWork[]> {
  if (machines.length === 0) return [];
  const now = await redisNowMs(redis); // Redis' clock, as the rolls' entries are
  const pipeline = redis.pipeline();
  for (const machine of machines) {
    for (const step of ['find-subjects', 'ensure-publication'] as const) {
      const k = keys.step(machine, step);
      pipeline.zcard(k.pending).get(k.inboxed).hlen(k.claims);
    }
    pipeline.zrangebyscore(keys.workers(machine), now + 1, '+inf');
  }
  const replies = (await pipeline.exec()) ?? [];
  const value = (i: number) => (replies[i]?.[0] ? 0 : replies[i]?.[1]);
  return machines.map((machine, m) => {
    const at = m * 7;
    return {
      machine,
      pending: Number(value(at)) + Number(value(at + 1) ?? 0) + Number(value(at + 3)) + Number(value(at + 4) ?? 0),
      inRuns: Number(value(at + 2)) + Number(value(at + 5)),
      workers: ((value(at + 6) || []) as string[]).length,
    };
  });
}

/** `text` matched literally by SCAN's MATCH (a prefix may hold *, ?, [ or \). */
function globEscaped(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
