import { expect } from 'chai';
import Redis from 'ioredis';
import { KeySpace } from '../../../lib/redis/keys';
import { clearResyncNotices, readResyncNotices } from '../../../lib/redis/resync-notices';
import { recordUnreadable } from '../../../lib/redis/unreadable';
import { deleteKeys, freshPrefix, REDIS_URL } from '../../support/redis';

/** The notices that stand until a full resync (clear-notices-2.lua), on the shared Redis under a fresh prefix. */
describe('resync notices (shared Redis, fresh prefix)', () => {
  let redis: Redis;
  let prefix: string;
  let keys: KeySpace;
  beforeEach(async () => { redis = new Redis(REDIS_URL); prefix = freshPrefix('notices'); keys = new KeySpace(prefix); });
  afterEach(async () => { redis.disconnect(); await deleteKeys(prefix); });

  it('reads both notices of each machine, and leaves out values not of their form', async () => {
    await redis.set(keys.dataLost('M'), '1000');
    await redis.hset(keys.unreadable('M'), { count: '3', at: '2000' });
    await redis.set(keys.dataLost('N'), 'garbage');
    await redis.hset(keys.unreadable('N'), { count: 'x', at: '2000' });
    await redis.set(keys.dataLost('P'), '1500?');
    const notices = await readResyncNotices(redis, keys, ['M', 'N', 'O', 'P']);
    // `?`: found as a prefix new to the database reads.
    expect([...notices.dataLost]).to.deep.equal([['M', { at: new Date(1000), maybeNewPrefix: false }], ['P', { at: new Date(1500), maybeNewPrefix: true }]]);
    expect([...notices.unreadable]).to.deep.equal([['M', { count: 3, at: new Date(2000) }]]);
  });

  it('a resync clears the notices found before it began, and keeps one found later', async () => {
    await redis.set(keys.dataLost('M'), '1000');
    await redis.hset(keys.unreadable('M'), { count: '3', at: '3000' });
    await clearResyncNotices(redis, keys, 'M', 2000);
    let notices = await readResyncNotices(redis, keys, ['M']);
    expect(notices.dataLost.size, 'the loss found before').to.equal(0);
    expect(notices.unreadable.get('M')?.count, 'the entries found after').to.equal(3);

    await redis.set(keys.dataLost('M'), '5000');
    await clearResyncNotices(redis, keys, 'M', 4000);
    notices = await readResyncNotices(redis, keys, ['M']);
    expect(notices.dataLost.get('M'), 'the loss found after').to.deep.equal({ at: new Date(5000), maybeNewPrefix: false });
    expect(notices.unreadable.size, 'the entries found before').to.equal(0);

    // One that may be a new prefix is compared by its time too.
    await redis.set(keys.dataLost('M'), '7000?');
    await clearResyncNotices(redis, keys, 'M', 6000);
    expect((await readResyncNotices(redis, keys, ['M'])).dataLost.size, 'found after').to.equal(1);
    await clearResyncNotices(redis, keys, 'M', 8000);
    expect((await readResyncNotices(redis, keys, ['M'])).dataLost.size, 'found before').to.equal(0);
  });

  it('an entry recorded now stands against a resync that began before it', async () => {
    const [seconds] = await redis.time();
    await recordUnreadable(redis, keys, 'M', 2);
    await clearResyncNotices(redis, keys, 'M', Number(seconds) * 1000 - 1);
    expect((await readResyncNotices(redis, keys, ['M'])).unreadable.get('M')?.count).to.equal(2);
    await clearResyncNotices(redis, keys, 'M', Number(seconds) * 1000 + 2000);
    expect((await readResyncNotices(redis, keys, ['M'])).unreadable.size).to.equal(0);
  });
});
