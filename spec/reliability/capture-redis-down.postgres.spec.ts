import { expect } from 'chai';
import { Harness } from '../support/harness';
import type { ShopOrder } from '../support/orms';
import { PrivateRedis } from './support/private-redis';

const DRAIN = { timeoutMs: 20_000 };
const WRITES = 200;

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.ceil(sorted.length * 0.99) - 1];
}

describe('direct capture with Redis down (PostgreSQL)', function () {
  this.timeout(90_000);
  let redis: PrivateRedis;
  let h: Harness;
  beforeEach(async () => {
    redis = await PrivateRedis.create();
    h = await new Harness('postgres', 'redis-down').setUp();
  });
  afterEach(async () => {
    await h.tearDown();
    await redis.destroy();
  });

  it('adds at most 50 ms (p99) to a write, logs the dropped changes by name once, says when Redis is back', async () => {
    await h.start({ redis: redis.url });
    const customer = await h.customer();
    const orders: ShopOrder[] = [];
    for (let i = 0; i < 10; i += 1) orders.push(await h.order(customer));
    const timedWrites = async (status: string) => {
      const took: number[] = [];
      for (let i = 0; i < WRITES; i += 1) {
        const started = performance.now();
        await h.update(orders[i % orders.length], { status: `${status}-${i}` });
        took.push(performance.now() - started);
      }
      return took;
    };
    const up = await timedWrites('up');

    await redis.stop();
    await until(() => h.logger.errors().some((e) => /is unreachable/.test(e)));
    const down = await timedWrites('down');
    const added = p99(down) - p99(up);
    console.log(`      write latency p99: Redis up ${p99(up).toFixed(1)} ms, Redis down ${p99(down).toFixed(1)} ms ` +
      `(added ${added.toFixed(1)} ms; max down ${Math.max(...down).toFixed(1)} ms) over ${WRITES} writes each`);
    expect(added).to.be.at.most(50);
    expect(h.logger.errors().filter((e) => /unreachable/.test(e))).to.have.length(1); // not once per write
    expect(h.logger.errors().join('\n')).not.to.match(/Could not enqueue/);

    await redis.start();
    await until(() => h.logger.lines.some((l) => /is back after/.test(l.message)));
    const back = h.logger.errors().find((e) => /is back after/.test(e))!;
    const ids = orders.map((o) => o.id).join(', ');
    expect(back).to.contain(`${WRITES} committed change(s) were dropped while it was down: Order ${ids}.`);

    // Once it is back, capture enqueues again: a worker publishes what is written now.
    const worker = await h.startWorker({ redis: redis.url });
    await h.update(orders[0], { status: 'shipped' });
    await worker.drain(DRAIN);
    expect(h.api.documents.get(String(orders[0].id))?.order_status).to.equal('shipped');
  });
});
