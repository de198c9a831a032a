import { expect } from 'chai';
import Redis from 'ioredis';
import { Harness } from '../support/harness';
import { PrivateRedis } from './support/private-redis';

/** A Redis that evicts keys when full would drop sync-machine's without an error: start() says so. */
describe('start() and a Redis that may evict keys (a private Redis, SQLite)', function () {
  this.timeout(30_000);
  let h: Harness;
  let redis: PrivateRedis;
  beforeEach(async () => { h = await new Harness('sqlite', 'eviction').setUp(); redis = await PrivateRedis.create(); });
  afterEach(async () => { await h.tearDown(); await redis.destroy(); });

  const configure = async (settings: Record<string, string>) => {
    const client = new Redis(redis.url);
    for (const [name, value] of Object.entries(settings)) await client.config('SET', name, value);
    client.disconnect();
  };
  const warnings = () => h.logger.warnings().filter((w) => w.includes('maxmemory'));

  it('warns, naming the policy and the fix, when Redis has a memory limit and evicts', async () => {
    await configure({ maxmemory: '1073741824', 'maxmemory-policy': 'allkeys-lru' });
    await h.startWorker({ redis: redis.url });
    expect(warnings()).to.deep.equal([
      `Redis at ${redis.url} has maxmemory 1073741824 bytes with maxmemory-policy allkeys-lru: when full it ` +
      "evicts any key, and sync-machine's keys go with no error (pending changes lost, a lock gone while its run publishes). " +
      'Set maxmemory-policy noeviction (a full Redis then refuses writes, and they are reported), or give sync-machine a Redis of its own.',
    ]);
  });

  it('says nothing with noeviction, or with no memory limit (a policy that never applies)', async () => {
    await configure({ maxmemory: '1073741824', 'maxmemory-policy': 'noeviction' });
    await h.start({ redis: redis.url });
    await configure({ maxmemory: '0', 'maxmemory-policy': 'allkeys-lru' });
    await h.start({ redis: redis.url });
    expect(warnings()).to.deep.equal([]);
  });
});
