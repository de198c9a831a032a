import { expect } from 'chai';
import IORedis from 'ioredis';
import { DrainTimeoutError } from '../../lib';
import { KeySpace } from '../../lib/redis/keys';
import { Harness } from '../support/harness';
import { WORLDS } from '../support/orms';
import { ApiClient } from '../support/partner-api';
import { PrivateRedis } from '../reliability/support/private-redis';

const DRAIN = { timeoutMs: 20_000 };

/**
 * SPEC §6.3: drain() resolves what the runs that ended since the call did (or since this runtime's first request
 * after its last drain), read from Redis.
 */
for (const world of WORLDS) {
  describe(`drain() summary on ${world.orm} + ${world.kind}`, () => {
    let h: Harness;
    beforeEach(async () => { h = await new Harness(world, 'drain').setUp(); });
    afterEach(async () => { await h.tearDown(); });

    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    it('counts the outcomes and lists the subjects that used up their attempts, with their errors', async () => {
      // Written while no worker runs; the drain starts before the worker, so every run ends after the call.
      const capture = await h.start();
      const customer = await h.customer();
      // The Customer's insert is mapped first, to no orders yet: mapped later, it would request the doomed order
      // again, and a request that lands during its last attempt runs it again (SPEC §6.2: a later change does).
      const early = await h.startWorker();
      await early.drain(DRAIN);
      await early.close();
      const [a, b, doomed] = [await h.order(customer), await h.order(customer), await h.order(customer)];
      const draining = capture.drain(DRAIN);
      await sleep(300);
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      const publish = machine.publish.bind(machine);
      machine.publish = async (order, payload) => {
        if (order.id === doomed.id) throw new Error('the partner API refuses this one');
        await publish(order, payload);
      };
      const worker = await h.startWorker({ machines: [machine], worker: { concurrency: 2, retry: { attempts: 2, initialDelayMs: 20 } } });
      const summary = await draining;

      // `failed` counts attempts: 2 for the one subject, each order requested once, by its own insert.
      expect(summary.outcomes).to.deep.equal({ published: 2, failed: 2 });
      expect(summary.failed.map(({ machine: m, subjectId, error, attempts }) => ({ m, subjectId, error, attempts }))).to.deep.equal([{
        m: 'OrderToApiSync', subjectId: String(doomed.id), attempts: 2,
        error: `OrderToApiSync.publish threw for Order ${doomed.id}: the partner API refuses this one`,
      }]);
      expect(summary.failed[0].at).to.be.instanceOf(Date);
      expect(summary.failedChanges).to.deep.equal([]);
      expect(h.api.publishes().map((r) => r.id).sort()).to.deep.equal([String(a.id), String(b.id)].sort());

      // Only runs that ended since the call: a second drain has nothing to report, the old failure included.
      expect(await worker.drain(DRAIN)).to.deep.equal({ outcomes: {}, failed: [], failedChanges: [], dropped: [], dataLost: [], unreadable: [] });

      // A run that finds the payload as published is counted as unchanged.
      machine.publish = publish;
      await worker.notifyChanged(h.shop.Order, a.id, ['status']);
      expect((await worker.drain(DRAIN)).outcomes).to.deep.equal({ unchanged: 1 });
    });

    it('counts the runs its own requests caused that ended before the call, and each run in one drain only', async () => {
      const worker = await h.startWorker();
      const customer = await h.customer();
      const orders = [await h.order(customer), await h.order(customer), await h.order(customer)];
      // An order requested twice (its insert, its customer's mapping) may run twice: unchanged or rescheduled.
      expect((await worker.drain(DRAIN)).outcomes).to.include({ published: 3 });

      // Every run of a forced resync ends before drain() is called: drain still reports them, as the resync's.
      expect(await worker.resync('OrderToApiSync', { force: true })).to.deep.equal({ enqueued: 3 });
      for (let waited = 0; h.api.publishes().length < 6; waited += 10) {
        if (waited > 10_000) throw new Error(`the resync's runs did not end: ${h.api.publishes().length} publishes`);
        await sleep(10);
      }
      await sleep(50); // their counters are written after the publish
      expect((await worker.drain(DRAIN)).outcomes).to.deep.equal({ published: 3 });
      expect((await worker.drain(DRAIN)).outcomes).to.deep.equal({});

      // Requested while a drain runs: reported by that drain or by the next, never by both.
      const first = worker.drain(DRAIN);
      await worker.notifyChanged(h.shop.Order, orders[0].id, ['status']);
      const [{ outcomes: during }, { outcomes: after }] = [await first, await worker.drain(DRAIN)];
      expect({ ...during, ...after }).to.deep.equal({ unchanged: 1 });
      expect(Object.keys(during).length + Object.keys(after).length).to.equal(1);
    });

    it('covers runs made by another runtime: a capture-only runtime sees what the worker published', async () => {
      let open!: () => void;
      const gate = new Promise<void>((resolve) => { open = resolve; });
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      const publish = machine.publish.bind(machine);
      machine.publish = async (order, payload) => { await gate; await publish(order, payload); };
      const worker = await h.startWorker({ machines: [machine] });
      const capture = await h.start();
      const customer = await h.customer();
      for (let i = 0; i < 4; i++) await h.order(customer);
      const draining = capture.drain(DRAIN);
      await sleep(300); // no run can end before the gate opens: the drain's snapshot comes first
      open();
      // A subject requested twice may meet its own lock (rescheduled) or its published payload (unchanged).
      const { outcomes: { unchanged = 0, rescheduled = 0, ...outcomes }, failed, failedChanges } = await draining;
      expect({ outcomes, failed, failedChanges }).to.deep.equal({ outcomes: { published: 4 }, failed: [], failedChanges: [] });
      expect(unchanged + rescheduled).to.be.at.most(8);
      expect(h.api.publishes()).to.have.length(4);
      await worker.close();
    });
  });
}

describe('drain() with Redis unreachable', function () {
  this.timeout(30_000);
  let redis: PrivateRedis;
  let h: Harness;
  beforeEach(async () => {
    redis = await PrivateRedis.create();
    h = await new Harness('postgres', 'drain-down').setUp();
  });
  afterEach(async () => {
    await h.tearDown();
    await redis.destroy();
  });

  it('rejects with DrainTimeoutError naming Redis once timeoutMs has passed, instead of hanging', async () => {
    const sync = await h.start({ redis: redis.url });
    await redis.stop();
    const started = Date.now();
    const error = await sync.drain({ timeoutMs: 600 }).then(() => undefined, (e: unknown) => e);
    const took = Date.now() - started;
    expect(error).to.be.instanceOf(DrainTimeoutError);
    expect((error as Error).message, (error as Error).message).to.match(/^drain\(\) timed out after 600 ms: Redis at redis:\/\/127\.0\.0\.1:\d+ did not answer in that time( \(the last error: .+\))?\. Is it running, and is the `redis` option right\?$/);
    expect((error as Error).message).to.not.include('within 0 ms');
    expect(took).to.be.within(550, 1500);
  });

  it('when Redis stops answering after a look saw work, says what that look saw and that Redis then went quiet', async () => {
    const capture = await h.start({ redis: redis.url });
    await h.order(await h.customer()); // the customer's lookup and the order pending; no worker runs
    const draining = capture.drain({ timeoutMs: 800 }).then(() => undefined, (e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const admin = new IORedis(redis.url);
    await admin.call('CLIENT', 'PAUSE', '1500', 'ALL'); // every client's commands wait, as on a stalled server
    admin.disconnect();
    const error = await draining;
    expect(error).to.be.instanceOf(DrainTimeoutError);
    expect((error as Error).message, (error as Error).message).to.match(new RegExp(
      '^drain\\(\\) timed out after 800 ms; still busy: OrderToApiSync find-subjects: 1 pending, 0 batch\\(es\\) in runs; ' +
      'OrderToApiSync ensure-publication: 1 pending, 0 batch\\(es\\) in runs ' +
      `\\(at the last look; Redis at redis://127\\.0\\.0\\.1:${redis.port} did not answer the next one before the deadline\\)\\. ` +
      'This runtime runs no worker'));
  });

  it('a look cut off by the deadline still says what waits for a time, once Redis answers again, and asks for no worker', async () => {
    const capture = await h.start({ redis: redis.url });
    const admin = new IORedis(redis.url);
    // An order whose run waits a minute for its retry's backoff: nothing a worker could take now.
    await admin.zadd(new KeySpace(h.prefix).step('OrderToApiSync', 'ensure-publication').pending, Date.now() + 60_000, '7');
    const draining = capture.drain({ timeoutMs: 800 }).then(() => undefined, (e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The look under way waits past the deadline, as on a loaded machine; Redis answers again 200 ms after it.
    await admin.call('CLIENT', 'PAUSE', '700', 'ALL');
    admin.disconnect();
    const error = await draining;
    expect(error).to.be.instanceOf(DrainTimeoutError);
    const message = (error as Error).message;
    expect(message, message).to.match(new RegExp(
      '^drain\\(\\) timed out after 800 ms; still busy: OrderToApiSync ensure-publication: 1 pending, 0 batch\\(es\\) in runs ' +
      `\\(at the last look; Redis at redis://127\\.0\\.0\\.1:${redis.port} did not answer the next one before the deadline\\); ` +
      'waiting, not stuck: OrderToApiSync ensure-publication: 1 not ready for another 5\\d\\.\\d s'));
    expect(message).to.not.include('This runtime runs no worker');
  });
});
