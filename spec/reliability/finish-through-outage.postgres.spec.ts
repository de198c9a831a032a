import { expect } from 'chai';
import { FAST_WORKER, Harness } from '../support/harness';
import type { ShopOrder } from '../support/orms';
import { PrivateRedis } from './support/private-redis';

const DRAIN = { timeoutMs: 30_000 };
const LOCK_TTL_MS = 30_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, done: () => boolean, ms: number): Promise<void> {
  for (const started = Date.now(); !done(); await sleep(25)) {
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
  }
}

/**
 * A trial stopped Redis mid-backfill: the runs' publishes ended while it was down, their FINISH failed, and Redis came
 * back (append-only file) with their locks: the subjects' next changes waited for those locks to expire, the partner
 * idle for 15 s.
 */
describe('a batch whose finish failed while Redis was down (own redis-server, PostgreSQL)', function () {
  this.timeout(90_000);
  let redis: PrivateRedis;
  let h: Harness;
  beforeEach(async () => {
    redis = await PrivateRedis.create();
    h = await new Harness('postgres', 'finish-outage').setUp();
  });
  afterEach(async () => {
    await h.tearDown();
    await redis.destroy();
  });

  it('finishes once Redis is back: the subjects\' next changes run at once, not at their locks\' expiry, each counted once', async () => {
    await h.startWorker({ redis: redis.url, worker: { ...FAST_WORKER, lockTtlMs: LOCK_TTL_MS, stallIntervalMs: 1_000 } });
    const capture = await h.start({ redis: redis.url });
    const customer = await h.customer();
    const orders: ShopOrder[] = [];
    for (let i = 0; i < 5; i += 1) orders.push(await h.order(customer));
    await capture.drain(DRAIN);
    const [before] = await capture.status();

    h.api.delayMs = 1_500;
    const arrived = h.api.arrivals.length;
    for (const order of orders) await h.update(order, { status: 'shipped' });
    await until('the 5 updates reach the partner', () => h.api.arrivals.length >= arrived + 5, 10_000);
    // Down for longer than ioredis retries a command (about 5 s): the batch's publishes end, its finish fails.
    await redis.stop();
    await sleep(9_000);
    h.api.delayMs = 0;
    await redis.start();
    // The clients look again every 250 ms: a change committed before they are back is dropped, as documented.
    await sleep(1_000);
    const back = Date.now();

    for (const order of orders) await h.update(order, { status: 'delivered' });
    await until('every order delivered at the partner',
      () => orders.every((o) => h.api.documents.get(String(o.id))?.order_status === 'delivered'), LOCK_TTL_MS + 10_000);
    const tookMs = Date.now() - back;
    await capture.drain(DRAIN);
    expect(tookMs, 'the next changes waited for the locks of the run whose finish failed').to.be.below(LOCK_TTL_MS / 3);
    const [after] = await capture.status();
    // Each publish counted once: the FINISH sent again found the first had not run, and ran once.
    expect(after.outcomes['ensure-publication:published'] - before.outcomes['ensure-publication:published']).to.equal(10);
    expect(h.api.publishes()).to.have.length(15);
    expect(h.logger.errors().join('\n')).not.to.match(/recorded as failed|failed after/);
  });
});
