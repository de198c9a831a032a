import Redis from 'ioredis';
import { BARE_REQUEST, EncodedRequest } from '../../lib/pipeline/requests';
import { WorkQueue } from '../../lib/pipeline/work-queue';
import { KeySpace } from '../../lib/redis/keys';
import { deleteKeys } from '../../demo/redis';
import { median, now, sleep } from '../throughput/measure';

/*
 * node dist/bench/profile/redis-wake.js [rounds]: what one round trip to Redis costs right after the process (and
 * Redis) sat idle, as a commit's mark does, against back to back. On a VM an idle vCPU is woken for each message,
 * and a commit's single mark pays that: it is the floor of the capture-overhead rows, whatever the mark carries.
 * Prints medians of PING and of a 1,000-item mark (commit mode, no debounce), back to back and after 20 ms idle; and,
 * after idle, a SET of the 1,000 items' JSON (what carrying them costs without the script) and a 1-item mark (what
 * the script costs without them). `written`: the part of the same calls until ioredis has handed them to the socket
 * (the mark: its `sent` callback), which on this VM was most of the mark's cost: the items' encoding and a write of
 * about 11 KB, against a few bytes for the PING.
 */
/** Rounds left out of each median: the connection and the scripts warming up. */
const WARM_UP = 10;

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 200);
  if (!Number.isInteger(rounds) || rounds <= WARM_UP) {
    throw new Error(`redis-wake: rounds must be an integer above ${WARM_UP} (the first ${WARM_UP} are warm-up), got "${process.argv[2]}"`);
  }
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const prefix = `sync-machine-wake-${process.pid}`;
  const items: Array<[string, EncodedRequest]> = Array.from({ length: 1000 }, (_, i) => [String(100_000 + i), BARE_REQUEST]);
  const timed = async (work: () => Promise<unknown>): Promise<number> => {
    const started = now();
    await work();
    return now() - started;
  };
  const queue = new WorkQueue(redis, new KeySpace(prefix), 'OrderToApiSync', 'ensure-publication', { batchSize: 500, debounceMs: 0 });
  // Each mark into empty keys, as a commit's with a worker keeping up: the keys go after each, untimed.
  const ids = JSON.stringify(items.map(([id]) => id));
  let written = 0;
  const mark = async (requests = items) => {
    let sent = 0;
    const started = now();
    const ms = await timed(() => queue.mark(requests, true, () => { sent = now(); }));
    written = sent - started;
    await deleteKeys(redis, prefix);
    return ms;
  };
  const ping = async () => {
    const started = now();
    const answered = redis.ping();
    written = now() - started;
    await answered;
    return now() - started;
  };
  try {
    await redis.ping();
    const figures: Record<string, number[]> = {
      'PING, back to back': [], 'PING, after 20 ms idle': [], 'mark, back to back': [], 'mark, after 20 ms idle': [],
      'SET of the items, after 20 ms idle': [], '1-item mark, after 20 ms idle': [],
      'PING, after 20 ms idle, written': [], 'mark, after 20 ms idle, written': [],
    };
    for (let i = 0; i < rounds; i++) {
      figures['PING, back to back'].push(await timed(() => redis.ping()));
      figures['mark, back to back'].push(await mark());
      await sleep(20);
      figures['PING, after 20 ms idle'].push(await ping());
      figures['PING, after 20 ms idle, written'].push(written);
      await sleep(20);
      figures['mark, after 20 ms idle'].push(await mark());
      figures['mark, after 20 ms idle, written'].push(written);
      await sleep(20);
      figures['SET of the items, after 20 ms idle'].push(await timed(() => redis.set(`${prefix}:set`, ids)));
      await sleep(20);
      figures['1-item mark, after 20 ms idle'].push(await mark(items.slice(0, 1)));
    }
    for (const [what, ms] of Object.entries(figures)) console.log(`${what.padEnd(40)} ${median(ms.slice(WARM_UP)).toFixed(3)} ms (median of ${ms.length - WARM_UP})`);
  } finally {
    await deleteKeys(redis, prefix);
    await redis.quit();
  }
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
