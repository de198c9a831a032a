import { expect } from 'chai';
import Redis from 'ioredis';
import { Build, DrainTimeoutError, ListenTo, Publish, SyncMachine } from '../../lib';
import { Harness } from '../support/harness';
import { ApiClient, PartnerApi } from '../support/partner-api';
import { REDIS_URL } from '../support/redis';
import { Order } from '../support/shop';

const DRAIN = { timeoutMs: 20_000 };

/** Build waits until the test lets it go, so a test can act while a run holds the lock. */
function gatedMachine(api: PartnerApi) {
  const gate = { entered: false, release: () => {} };
  @SyncMachine({ subject: Order, name: 'Gated' })
  @ListenTo(Order)
  class GatedSync {
    client = new ApiClient(api.url);
    @Build()
    async build(order: Order) {
      if (!gate.entered) {
        gate.entered = true;
        await new Promise<void>((resolve) => { gate.release = resolve; });
      }
      return { id: String(order.id), order_status: order.status };
    }
    @Publish()
    async publish(order: Order, payload: unknown) { await this.client.putOrder(String(order.id), payload); }
  }
  return { machine: new GatedSync(), gate };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 5));
}

describe('runtime lifecycle', () => {
  let h: Harness;
  let redis: Redis;
  beforeEach(async () => { h = await new Harness('sqlite', 'lifecycle').setUp(); redis = new Redis(REDIS_URL); });
  afterEach(async () => { redis.disconnect(); await h.tearDown(); });

  it('stops before publishing when the subject lock cannot be extended, then retries from fresh data', async () => {
    const { machine, gate } = gatedMachine(h.api);
    const worker = await h.startWorker({ machines: [machine], worker: { concurrency: 2, lockTtlMs: 300, retry: { attempts: 3, initialDelayMs: 20 } } });
    const order = await h.order(await h.customer());
    await until(() => gate.entered);
    await redis.del(`${h.prefix}:Gated:lock:${order.id}`); // someone else's expiry, simulated
    await new Promise((r) => setTimeout(r, 400)); // past the next extension
    await h.update(order, { status: 'shipped' });
    gate.release();
    await worker.drain(DRAIN);
    expect(h.logger.errors().join('\n')).to.match(
      new RegExp(`GatedSync: the lock on Order ${order.id} could not be extended; stopped before publishing`));
    expect(h.api.publishes().map((r) => r.body)).to.deep.equal([{ id: String(order.id), order_status: 'shipped' }]);
  });

  it('re-runs a job whose worker died mid-run', async () => {
    const capture = await h.start();
    const order = await h.order(await h.customer());
    // What a worker does when it takes a job, and then the process is killed before it finishes.
    const taken = await redis.rpoplpush(h.queueKey('ensure-publication', 'waiting'), h.queueKey('ensure-publication', 'active'));
    expect(taken).to.equal(`${order.id}@0`);
    await h.startWorker({ worker: { concurrency: 2, stallIntervalMs: 100 } });
    await capture.drain(DRAIN);
    expect(h.api.publishes(String(order.id))).to.have.length(1);
  });

  it('a job that failed for good before it claimed does not hold back later changes of its subject', async () => {
    const capture = await h.start();
    const order = await h.order(await h.customer());
    // What a run leaves when Redis failed while it took the lock, on its last attempt: failed, never claimed.
    const jobId = `${order.id}@0`;
    await redis.lrem(h.queueKey('ensure-publication', 'waiting'), 0, jobId);
    await redis.sadd(h.queueKey('ensure-publication', 'failed'), jobId);
    await h.update(order, { status: 'shipped' });
    const worker = await h.startWorker();
    await worker.drain(DRAIN);
    await capture.drain(DRAIN);
    expect(h.api.publishes(String(order.id)).map((r) => r.body!.order_status)).to.deep.equal(['shipped']);
    // The failed job stays visible, and a retry of it finds its requests covered.
    expect(await redis.smembers(h.queueKey('ensure-publication', 'failed'))).to.deep.equal([jobId]);
  });

  it('drain() waits for delayed retries and reports what is still busy when it times out', async () => {
    const worker = await h.startWorker({ worker: { concurrency: 2, retry: { attempts: 2, initialDelayMs: 400 } } });
    h.api.failNext = 1;
    const order = await h.order(await h.customer());
    const started = Date.now();
    await worker.drain(DRAIN);
    expect(Date.now() - started).to.be.at.least(350); // the retry waited out its backoff inside drain
    expect(h.api.publishes(String(order.id))).to.have.length(1);

    await worker.close();
    const capture = await h.start();
    await h.update(order, { status: 'shipped' });
    const error = await capture.drain({ timeoutMs: 100 }).catch((e) => e);
    expect(error).to.be.instanceOf(DrainTimeoutError);
    expect(error.message).to.match(/still busy: OrderToApiSync ensure-publication: 1 waiting, 0 active, 0 delayed/);
    expect(error.message).to.include('This runtime runs no worker');
  });

  it('close() lets a running publish finish, releases the lock, is idempotent, and unsubscribes', async () => {
    const worker = await h.startWorker();
    h.api.delayMs = 300;
    const order = await h.order(await h.customer());
    await until(() => h.api.maxInFlightPerId > 0);
    await Promise.all([worker.close(), worker.close()]);
    expect(h.api.publishes(String(order.id))).to.have.length(1);
    expect(await redis.keys(`${h.prefix}:OrderToApiSync:lock:*`)).to.deep.equal([]);

    // Closed: no longer subscribed, and the app's writes go on.
    const saved = await h.update(order, { status: 'received' });
    expect(saved.status).to.equal('received');
    expect(h.ds.subscribers.map((s) => s.constructor.name)).to.not.include('CaptureSubscriber');
  });
});
