import { expect } from 'chai';
import Redis from 'ioredis';
import { decodeRequest } from '../../../lib/pipeline/requests';
import { WorkQueue } from '../../../lib/pipeline/work-queue';
import { KeySpace } from '../../../lib/redis/keys';
import { deleteKeys, freshPrefix, REDIS_URL } from '../../support/redis';

/**
 * The work set's scripts through WorkQueue, on the shared Redis under a fresh prefix: what take hands a run for
 * an item requested bare, and how finish ends a batch whose items ended differently.
 */
describe('work queue scripts (shared Redis, fresh prefix)', () => {
  let redis: Redis;
  let prefix: string;
  beforeEach(() => { redis = new Redis(REDIS_URL); prefix = freshPrefix('work-queue'); });
  afterEach(async () => { redis.disconnect(); await deleteKeys(prefix); });
  const keys = () => new KeySpace(prefix);
  const queue = (debounceMs: number) => new WorkQueue(redis, keys(), 'M', 'ensure-publication', { batchSize: 10, debounceMs });
  const redisMs = async () => { const [s, us] = await redis.time(); return Number(s) * 1000 + Math.floor(Number(us) / 1000); };
  const retry = { attempts: 2, initialDelayMs: 10 };

  for (const debounceMs of [0, 50]) {
    it(`a bare item is taken with the time of its first request, not when it became ready (debounceMs ${debounceMs})`, async () => {
      const work = queue(debounceMs);
      const before = await redisMs();
      await work.mark([['1', {}]]);
      await new Promise((r) => setTimeout(r, 5));
      await work.mark([['1', {}]]); // coalesces: the first request's time stays
      const after = await redisMs();
      await new Promise((r) => setTimeout(r, debounceMs + 10));
      const batch = await work.take('T', true, { token: 'T:run', ttlMs: 10_000 });
      expect(batch.items.map((i) => i.item)).to.deep.equal(['1']);
      const firstAt = decodeRequest(batch.items[0].raw, 'spec').firstAt!;
      expect(firstAt).to.be.within(before, after - 5);
    });
  }

  it('finish counts each outcome, lists publishes in order, releases the locks, and puts failures back or records them', async () => {
    const work = queue(0);
    await work.mark(['1', '2', '3', '4', '5', '6'].map((id) => [id, {}]));
    await work.mark([['6', { attempt: '1' }]]); // a subject on its last attempt
    const batch = await work.take('T', true, { token: 'T:run', ttlMs: 10_000 });
    expect(batch.items.map((i) => i.item).sort()).to.deep.equal(['1', '2', '3', '4', '5', '6']);
    await work.finish('T', 'T:run', batch.claim, [
      ['3', 'published', null], ['1', 'unchanged', null], ['5', 'failed', 'boom'], ['2', 'published', null],
      ['4', 'unchanged', null], ['6', 'failed', 'boom again'],
    ], retry, 'end');

    const step = keys().step('M', 'ensure-publication');
    const stats = await redis.hgetall(keys().stats('M'));
    expect(stats).to.deep.include({
      'ensure-publication:published': '2', 'ensure-publication:unchanged': '2', 'ensure-publication:failed': '2',
      'ensure-publication:batches': '1',
    });
    const recent = (await redis.lrange(keys().recentPublishes('M'), 0, -1)).map((entry) => entry.split(' ')[1]);
    expect(recent, 'newest first').to.deep.equal(['2', '3']);
    expect(await redis.hlen(keys().locks('M')), 'locks released').to.equal(0);
    expect(await redis.hlen(step.claims), 'claim released').to.equal(0);
    // 5 failed its first attempt: back in pending with attempt 1. 6 failed its last: recorded, not pending.
    expect(await redis.zrange(step.pending, 0, -1)).to.deep.equal(['5']);
    expect(decodeRequest((await redis.hget(step.requests, '5'))!, 'spec').attempt).to.equal(1);
    const failed = JSON.parse((await redis.hget(step.failed, '6'))!);
    expect(failed).to.deep.include({ error: 'boom again', attempts: 2, step: 'ensure-publication' });
    expect(await redis.hexists(step.failed, '5')).to.equal(0);
  });
});
