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

  it('says a loss found while connected as eviction when Redis has evicted keys, with the fix', async function () {
    this.timeout(40_000);
    await h.startWorker({ redis: redis.url });
    const admin = new Redis(redis.url);
    try {
      const used = Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))![1]);
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
      await admin.config('SET', 'maxmemory', String(used + 1_000_000));
      for (let i = 0; i < 30; i += 1) await admin.set(`junk-${i}`, 'x'.repeat(100_000));
      expect(Number(/^evicted_keys:(\d+)/m.exec(await admin.info('stats'))![1])).to.be.above(0);
      // The markers may or may not have been among them: gone either way, as a full Redis would take them.
      const markers = await admin.keys(`${h.prefix}:runtime:*`);
      if (markers.length > 0) await admin.del(...markers);
      const said = () => h.logger.errors().filter((e) => e.includes('while connected'));
      for (let waited = 0; said().length === 0 && waited < 15_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
      // Before: "lost the data it held while connected (a FLUSHALL or FLUSHDB, or a failover …)", four times (a trial).
      expect(said()[0]).to.match(new RegExp(`^Redis at ${redis.url.replace(/[.]/g, '\\.')} evicted keys of sync-machine's while ` +
        'connected \\(maxmemory-policy allkeys-lru, \\d+ keys evicted so far: set maxmemory-policy noeviction, and raise maxmemory; ' +
        'or a FLUSHALL\\): changes recorded and not yet run'));
    } finally {
      await admin.config('SET', 'maxmemory', '0');
      admin.disconnect();
    }
  });

  it('says nothing with noeviction, or with no memory limit (a policy that never applies)', async () => {
    await configure({ maxmemory: '1073741824', 'maxmemory-policy': 'noeviction' });
    await h.start({ redis: redis.url });
    await configure({ maxmemory: '0', 'maxmemory-policy': 'allkeys-lru' });
    await h.start({ redis: redis.url });
    expect(warnings()).to.deep.equal([]);
  });
});
