import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { lockToken } from '../../lib/pipeline/batch-locks';
import { BARE_REQUEST, EncodedRequest } from '../../lib/pipeline/requests';
import { ticketRun, WorkQueue } from '../../lib/pipeline/work-queue';
import { KeySpace } from '../../lib/redis/keys';
import { deleteKeys } from '../../demo/redis';
import { median } from '../throughput/measure';

/*
 * node dist/bench/profile/lock-encoding.js [rounds]: Redis time (SLOWLOG, µs) of the scripts of an unchanged resync of
 * 5,000 subjects in batches of 500 (10 marks, then 10 takes that lock their batch and 10 finishes), with runs' lock
 * tokens as they were (6 random bytes: a lock under 64 bytes, so the locks hash stays a listpack up to 512 fields) and
 * as they are (lockToken: a hash table). Rounds alternate. Sets SLOWLOG to log every command while it runs, and puts
 * its settings back.
 */
const SUBJECTS = 5000;
const BATCH = 500;
const retry = { attempts: 8, initialDelayMs: 1000 };

type Script = 'mark' | 'take' | 'finish';
/** The scripts by their key count (lib/redis/scripts/<name>-<keys>.lua). */
const SCRIPT_BY_KEYS: Record<string, Script> = { 13: 'mark', 17: 'take', 19: 'finish' };

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 12);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`lock-encoding: rounds must be a whole number above 0, not ${process.argv[2]}`);
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const redis = new Redis(url);
  const admin = new Redis(url);
  const [, slower] = await admin.config('GET', 'slowlog-log-slower-than') as [string, string];
  const [, maxLen] = await admin.config('GET', 'slowlog-max-len') as [string, string];
  const tokens = { 'as they were (6 bytes)': (ticket: string) => `${ticket}:${'0'.repeat(12)}`, 'lockToken': (ticket: string) => lockToken(ticket, randomUUID()) };
  const times = new Map(Object.keys(tokens).map((name) => [name, { mark: [] as number[], take: [] as number[], finish: [] as number[], round: [] as number[] }]));
  const items: Array<[string, EncodedRequest]> = Array.from({ length: SUBJECTS }, (_, i) => [String(i + 1), BARE_REQUEST]);
  try {
    await admin.config('SET', 'slowlog-max-len', '100000');
    for (let r = 0; r < rounds; r++) {
      const order = Object.entries(tokens);
      if (r % 2 === 1) order.reverse();
      for (const [name, token] of order) {
        const prefix = `sync-machine-lock-encoding-${process.pid}-${r}`;
        const work = new WorkQueue(redis, new KeySpace(prefix), 'M', 'ensure-publication', { batchSize: BATCH, debounceMs: 0 });
        const run = token('1');
        await admin.config('SET', 'slowlog-log-slower-than', '0');
        await admin.slowlog('RESET');
        for (let i = 0; i < SUBJECTS; i += BATCH) await work.mark(items.slice(i, i + BATCH));
        for (let b = 0; b < SUBJECTS / BATCH; b++) {
          const batch = await work.take(ticketRun('1', run), b === 0, 30_000);
          if (batch.items.length !== BATCH) throw new Error(`lock-encoding: a take got ${batch.items.length} items, not ${BATCH}`);
          await work.finish(ticketRun('1', run), batch.claim, batch.items.map(({ item }) => [item, 'unchanged', null]), retry, 'linger');
        }
        await admin.config('SET', 'slowlog-log-slower-than', slower);
        const log = await admin.slowlog('GET', 100_000) as Array<[number, number, number, string[]]>;
        const t = times.get(name)!;
        let round = 0;
        for (const [, , micros, args] of log) {
          const script = String(args[0]).toLowerCase() === 'evalsha' ? SCRIPT_BY_KEYS[args[2]] : undefined;
          if (!script) continue;
          t[script].push(micros);
          round += micros;
        }
        t.round.push(round);
        await deleteKeys(redis, prefix);
      }
    }
  } finally {
    await admin.config('SET', 'slowlog-log-slower-than', slower);
    await admin.config('SET', 'slowlog-max-len', maxLen);
    await admin.slowlog('RESET');
    redis.disconnect();
    admin.disconnect();
  }
  console.log(`Redis time (µs, medians of ${rounds} rounds) of an unchanged resync of ${SUBJECTS} subjects in batches of ${BATCH}:`);
  for (const [name, t] of times) {
    console.log(`  locks ${name.padEnd(22)} mark ${median(t.mark)}  take ${median(t.take)}  finish ${median(t.finish)}  a round ${median(t.round)}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
