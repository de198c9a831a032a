import { expect } from 'chai';
import Redis from 'ioredis';
import { ticketRun, WorkQueue } from '../../lib/pipeline/work-queue';
import { KeySpace } from '../../lib/redis/keys';
import { PrivateRedis } from './support/private-redis';

/**
 * sync-machine's own scripts (lib/redis/scripts.ts) on a Redis of this test alone, whose script cache it empties
 * and whose command counts it reads.
 */
describe("sync-machine's scripts and Redis' script cache", function () {
  this.timeout(30_000);
  let redis: PrivateRedis;
  const clients: Redis[] = [];
  const client = () => {
    const made = new Redis(redis.url);
    clients.push(made);
    return made;
  };
  const queue = (on: Redis) => new WorkQueue(on, new KeySpace('sm-scripts'), 'M', 'ensure-publication', { batchSize: 10, debounceMs: 0 });
  const calls = async (on: Redis, command: 'eval' | 'evalsha') => {
    const line = (await on.info('commandstats')).split('\r\n').find((l) => l.startsWith(`cmdstat_${command}:`));
    return Number(/calls=(\d+)/.exec(line ?? '')?.[1] ?? 0);
  };
  beforeEach(async () => { redis = await PrivateRedis.create(); });
  afterEach(async () => {
    for (const made of clients.splice(0)) made.disconnect();
    await redis.destroy();
  });

  it('sends a script whole only once per Redis, not once per connection: later connections run it by its SHA', async () => {
    const admin = client();
    await queue(client()).mark([['1', {}]], true); // unknown to this Redis: NOSCRIPT, then EVAL caches it
    await queue(client()).mark([['2', {}]], true);
    await queue(client()).mark([['3', {}]], true);
    expect(await calls(admin, 'eval'), 'whole scripts sent').to.equal(1);
    expect(await calls(admin, 'evalsha'), 'runs by SHA (the first answered NOSCRIPT)').to.equal(3);
  });

  it('marks, takes and finishes after SCRIPT FLUSH on the same connections, losing nothing', async () => {
    const admin = client();
    const work = queue(client());
    await work.mark([['1', {}], ['2', {}]], true);
    await admin.script('FLUSH');
    await work.mark([['3', {}]]);
    await admin.script('FLUSH');
    const batch = await work.take(ticketRun('T', 'T:run'), true, 10_000);
    expect(batch.items.map((i) => i.item).sort()).to.deep.equal(['1', '2', '3']);
    await admin.script('FLUSH');
    await work.finish(ticketRun('T', 'T:run'), batch.claim, batch.items.map((i) => [i.item, 'published', null]), { attempts: 1, initialDelayMs: 10 }, 'end');
    const step = new KeySpace('sm-scripts').step('M', 'ensure-publication');
    expect(await admin.zcard(step.pending), 'nothing left pending').to.equal(0);
    expect(await admin.hlen(step.claims), 'the claim released').to.equal(0);
    expect(await admin.hget(new KeySpace('sm-scripts').stats('M'), 'ensure-publication:published')).to.equal('3');
  });
});
