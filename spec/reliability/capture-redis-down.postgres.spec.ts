import { expect } from 'chai';
import type { DataSource } from 'typeorm';
import { Harness } from '../support/harness';
import type { ShopOrder } from '../support/orms';
import type { TypeOrmWorld } from '../support/orms/typeorm';
import { Order } from '../support/shop';
import { ApiClient } from '../support/partner-api';
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

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.ceil(sorted.length * p) - 1];
}

/** One save() of an order, timed: load, change, save, as an app writes (and as the subscriber sees it). */
async function timedSave(ds: DataSource, id: number, status: string): Promise<number> {
  const started = performance.now();
  const repo = ds.getRepository(Order);
  const order = await repo.findOneByOrFail({ id });
  order.status = status;
  await repo.save(order);
  return performance.now() - started;
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
    const capture = await h.start({ redis: redis.url });
    const customer = await h.customer();
    const orders: ShopOrder[] = [];
    for (let i = 0; i < 10; i += 1) orders.push(await h.order(customer));
    // The same writes through a second DataSource that no runtime listens to, interleaved one for one, so the
    // load of this shared machine weighs on both alike: the difference is what capture adds with Redis down.
    const plain = await (h.w as TypeOrmWorld).connect();
    await redis.stop();
    await until(() => h.logger.errors().some((e) => /is unreachable/.test(e)));
    const captured: number[] = [];
    const uncaptured: number[] = [];
    for (let i = 0; i < WRITES; i += 1) {
      const id = orders[i % orders.length].id;
      captured.push(await timedSave(h.ds, id, `down-${i}`));
      uncaptured.push(await timedSave(plain, id, `plain-${i}`));
    }
    const added = percentile(captured, 0.99) - percentile(uncaptured, 0.99);
    const ms = (n: number) => `${n.toFixed(1)} ms`;
    console.log(`      ${WRITES} writes each, Redis down: p50 ${ms(percentile(captured, 0.5))} captured vs ` +
      `${ms(percentile(uncaptured, 0.5))} not; p99 ${ms(percentile(captured, 0.99))} vs ${ms(percentile(uncaptured, 0.99))} ` +
      `(added ${ms(added)}); max captured ${ms(Math.max(...captured))}`);
    expect(added).to.be.at.most(50);
    expect(h.logger.errors().filter((e) => /unreachable/.test(e))).to.have.length(1); // not once per write
    expect(h.logger.errors().join('\n')).not.to.match(/Could not enqueue/);

    await redis.start();
    await until(() => h.logger.lines.some((l) => /is back after/.test(l.message)));
    const back = h.logger.errors().find((e) => /is back after/.test(e))!;
    const ids = orders.map((o) => o.id).join(', ');
    // The changes, and the rows they were of: before, a count of changes beside a list of fewer ids (a trial).
    expect(back).to.contain(`${WRITES} committed change(s) (to 10 rows) were dropped while it was down: Order ${ids}.`);

    // Once it is back, capture enqueues again: a worker publishes what is written now.
    const worker = await h.startWorker({ redis: redis.url });
    await h.update(orders[0], { status: 'shipped' });
    await worker.drain(DRAIN);
    expect(h.api.documents.get(String(orders[0].id))?.order_status).to.equal('shipped');
    // drain() of the runtime that dropped them names them too (once per row), for code that checks instead of logs.
    const { dropped } = await capture.drain(DRAIN);
    expect(dropped).to.deep.equal(orders.map((o) => ({ entity: 'Order', id: String(o.id) })));
    expect((await capture.drain(DRAIN)).dropped, 'only since the previous drain').to.deep.equal([]);
  });

  it('a Redis that stops answering (SIGSTOP) holds one write for captureTimeoutMs, later ones not at all; lists them when it answers', async () => {
    const capture = await h.start({ redis: redis.url, captureTimeoutMs: 500 });
    const customer = await h.customer();
    const orders: ShopOrder[] = [];
    for (let i = 0; i < 10; i += 1) orders.push(await h.order(customer));
    const plain = await (h.w as TypeOrmWorld).connect();
    redis.freeze();
    const first = await timedSave(h.ds, orders[0].id, 'frozen-first');
    expect(first, 'the first write waits for the timeout, not longer').to.be.within(450, 2_000);
    const stalled = h.logger.errors().filter((e) => /did not answer within 500 ms/.test(e));
    expect(stalled, 'said once, when the first write gave up waiting').to.have.length(1);
    const captured: number[] = [];
    const uncaptured: number[] = [];
    for (let i = 0; i < 40; i += 1) {
      const id = orders[1 + (i % 9)].id; // not orders[0]: its only change is the one under way when Redis stopped
      captured.push(await timedSave(h.ds, id, `frozen-${i}`));
      uncaptured.push(await timedSave(plain, id, `plain-${i}`));
    }
    const added = percentile(captured, 0.99) - percentile(uncaptured, 0.99);
    expect(added, `later writes wait for nothing (p99 added ${added.toFixed(1)} ms)`).to.be.at.most(50);
    expect(h.logger.errors().filter((e) => /did not answer/.test(e))).to.have.length(1);

    redis.thaw();
    await until(() => h.logger.lines.some((l) => /is back after/.test(l.message)));
    const back = h.logger.errors().find((e) => /is back after/.test(e))!;
    // The first write's changes were on their way when Redis stopped: not confirmed, rather than dropped.
    const later = orders.slice(1).map((o) => o.id).join(', ');
    expect(back).to.contain(`40 committed change(s) (to 9 rows) were dropped while it was down: Order ${later}; 1 more were being ` +
      `enqueued as it went down and may have been recorded after all (the client sends them again when it reconnects): Order ${orders[0].id}.`);

    // Answering again: capture enqueues again, and a worker publishes what is written now.
    const worker = await h.startWorker({ redis: redis.url });
    const again = await timedSave(h.ds, orders[1].id, 'shipped');
    expect(again).to.be.below(450);
    await worker.drain(DRAIN);
    expect(h.api.documents.get(String(orders[1].id))?.order_status).to.equal('shipped');
    // drain() tells the two apart as the log does (two trials took the first write's row as lost for sure).
    expect((await capture.drain(DRAIN)).dropped).to.deep.equal([
      { entity: 'Order', id: String(orders[0].id), maybeRecorded: true },
      ...orders.slice(1).map((o) => ({ entity: 'Order', id: String(o.id) })),
    ]);
  });

  it('the calls that need Redis, with Redis down, reject naming its address, what was left undone and the fix', async () => {
    const sync = await h.start({ redis: redis.url });
    const order = await h.order(await h.customer());
    await redis.stop();
    const refusal = (call: Promise<unknown>) => call.then(() => 'resolved', (e: Error) => `${e.name}: ${e.message}`);
    const at = `Redis at redis://127.0.0.1:${redis.port}/? did not answer \\(.*\\): `;
    const fix = ' Start Redis or fix the `redis` option, then call it again\\.$';
    // Before, each rejected with ioredis' "MaxRetriesPerRequestError: Reached the max retries per request limit".
    // Side by side: each waits out ioredis' retries (about 5 s), which a brief reconnect would have ended.
    const [status, subject, notified, resynced, retried] = await Promise.all([
      refusal(sync.status()), refusal(sync.subjectStatus('OrderToApiSync', order.id)), refusal(sync.notifyChanged('Order', [order.id])),
      refusal(sync.resync('OrderToApiSync', { ids: [order.id] })), refusal(sync.retryFailed('OrderToApiSync')),
    ]);
    expect(status).to.match(new RegExp(`^RedisUnavailableError: status: ${at}nothing was read\\.${fix}`));
    expect(subject).to.match(new RegExp(`^RedisUnavailableError: subjectStatus\\(OrderToApiSync, ${order.id}\\): ${at}nothing was read\\.${fix}`));
    expect(notified).to.match(new RegExp(`^RedisUnavailableError: notifyChanged: ${at}the 1 change\\(s\\) may not be recorded\\.${fix}`));
    expect(resynced).to.match(new RegExp(`^RedisUnavailableError: resync\\(OrderToApiSync\\): ${at}the pages recorded before it are pending`));
    expect(retried).to.match(
      new RegExp(`^RedisUnavailableError: retryFailed\\(OrderToApiSync\\): ${at}the failures it did not take are still recorded\\.${fix}`));
  });

  it('close() of an idle worker returns at once, not after closeTimeoutMs, and one in a run waits for that run', async () => {
    // An idle worker: its tickets linger after the last batch, and end only by telling Redis.
    const idle = await h.startWorker({ redis: redis.url, worker: { closeTimeoutMs: 10_000, concurrency: 2, stallIntervalMs: 500, lockTtlMs: 5_000 } });
    const customer = await h.customer();
    const order = await h.order(customer);
    await idle.drain(DRAIN);
    await redis.stop();
    await until(() => h.logger.errors().some((e) => /is unreachable/.test(e)));
    let started = performance.now();
    await idle.close();
    expect(performance.now() - started).to.be.below(2_000);

    // A run in flight when Redis goes: close() waits for it (its publish stores in the database), not the whole timeout.
    await redis.start();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
    const publish = machine.publish.bind(machine);
    let publishing = false;
    machine.publish = async (o, payload) => { publishing = true; await gate; await publish(o, payload); };
    const busy = await h.startWorker({ redis: redis.url, machines: [machine], worker: { closeTimeoutMs: 10_000, concurrency: 2, stallIntervalMs: 500, lockTtlMs: 5_000 } });
    await h.update(order, { status: 'shipped' });
    // In its publish, not merely running: a run still on its way there (a Redis read, its claim) waits for Redis, and
    // close() then rightly waits out its timeout (a loaded CI: 10.1 s).
    await until(() => publishing);
    await redis.stop();
    await until(() => h.logger.errors().filter((e) => /is unreachable/.test(e)).length >= 2);
    started = performance.now();
    const closing = busy.close();
    setTimeout(release, 300);
    await closing;
    const took = performance.now() - started;
    expect(took).to.be.within(250, 5_000);
    expect(h.api.documents.get(String(order.id))?.order_status).to.equal('shipped');
  });
});
