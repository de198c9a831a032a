import { expect } from 'chai';
import Redis from 'ioredis';
import { RedisAvailability, RedisUnavailableError } from '../../lib/redis/availability';
import { MemoryLogger } from '../support/logger';
import { PrivateRedis } from './support/private-redis';

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('RedisAvailability (a private Redis stopped and started)', function () {
  this.timeout(30_000);
  let redis: PrivateRedis;
  let client: Redis;
  let logger: MemoryLogger;
  let availability: RedisAvailability;
  beforeEach(async () => {
    redis = await PrivateRedis.create();
    client = new Redis(redis.url);
    client.on('error', () => undefined); // refused reconnects while the test keeps Redis down
    await client.ping();
    logger = new MemoryLogger();
    availability = new RedisAvailability(client, logger, `redis://127.0.0.1:${redis.port}`);
  });
  afterEach(async () => {
    availability.close();
    client.disconnect();
    await redis.destroy();
  });

  it('refuses at once while Redis is down, logs once that it went down and once, by name, what was dropped when it is back', async () => {
    expect(await availability.guard(() => client.ping())).to.equal('PONG');
    await redis.stop();
    await until(() => !availability.available);

    const waits: number[] = [];
    for (let i = 0; i < 200; i += 1) {
      const started = performance.now();
      const error = await availability.guard(() => client.ping()).then(() => null, (e: unknown) => e);
      waits.push(performance.now() - started);
      expect(error).to.be.instanceOf(RedisUnavailableError);
      availability.recordDropped([{ entity: 'Order', id: String(i % 3) }, { entity: 'Customer', id: '7' }]);
    }
    // No command is sent, nothing is waited for: what is left is this busy machine's scheduling noise.
    waits.sort((a, b) => a - b);
    expect(waits[100], 'median ms').to.be.below(2);
    expect(waits[199], 'max ms').to.be.below(50);
    expect(logger.lines.map((l) => l.message)).to.have.length(1);
    expect(logger.errors()[0]).to.match(/^Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable: committed changes cannot be enqueued/);

    await redis.start();
    await until(() => availability.available);
    expect(logger.lines).to.have.length(2);
    expect(logger.errors()[1]).to.match(new RegExp(
      'is back after \\d+\\.\\d s; 400 committed change\\(s\\) \\(to 4 rows\\) were dropped while it was down: Order 0, 1, 2; Customer 7\\. ' +
      'Call notifyChanged\\(\\) or resync\\(\\) for them'));
    expect(await availability.guard(() => client.ping())).to.equal('PONG');
  });

  it('cuts short a call in flight when the connection drops', async () => {
    const started = performance.now();
    const blocked = availability.guard(() => client.blpop('sm-availability-never', 0)); // would wait forever
    await new Promise((r) => setTimeout(r, 50));
    const stopping = redis.stop();
    const error = await blocked.then(() => null, (e: unknown) => e);
    await stopping;
    expect(error).to.be.instanceOf(RedisUnavailableError);
    expect((error as Error).message).to.match(/the connection to Redis at .* was lost/);
    expect(performance.now() - started).to.be.below(3000);
  });

  it('says when Redis is back even if nothing was dropped, and sums up an outage still going on at close', async () => {
    await redis.stop();
    await until(() => !availability.available);
    await redis.start();
    await until(() => availability.available);
    expect(logger.lines.map((l) => l.level)).to.deep.equal(['error', 'info']);
    expect(logger.lines[1].message).to.match(/is back after .*; capture dropped no committed change meanwhile \(whether Redis kept its data is checked apart, and said when it did not\)\./);

    await redis.stop();
    await until(() => !availability.available);
    availability.recordDropped([{ entity: 'Order', id: '42' }]);
    availability.close();
    expect(logger.errors()[2]).to.match(/was still unreachable at close, after .*; 1 committed change\(s\) were dropped while it was down: Order 42\./);
  });

  it('names the first 50 ids of an entity in that line, and says where every one is listed', async () => {
    await redis.stop();
    await until(() => !availability.available);
    availability.recordDropped(Array.from({ length: 5_000 }, (_, i) => ({ entity: 'Order', id: String(i) })));
    availability.recordDropped([{ entity: 'Customer', id: '7' }]);
    availability.close();
    const first50 = Array.from({ length: 50 }, (_, i) => i).join(', ');
    // Before, all 5,000 (a trial's line was 25 KB, more than log shippers keep).
    expect(logger.errors()[1]).to.contain(`5001 committed change(s) were dropped while it was down: Order ${first50} and ` +
      '4950 more; Customer 7 (the `dropped` of drain() lists every one). Call notifyChanged() or resync() for them');
  });
});
