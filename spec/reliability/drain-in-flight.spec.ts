import { expect } from 'chai';
import Redis from 'ioredis';
import { KeySpace } from '../../lib/redis/keys';
import { gatedMachine } from '../support/gated-machine';
import { Harness } from '../support/harness';
import { REDIS_URL } from '../support/redis';

describe('drain() and runs in flight (SQLite, shared Redis)', () => {
  let h: Harness;
  let redis: Redis;
  beforeEach(async () => { h = await new Harness('sqlite', 'drain-in-flight').setUp(); redis = new Redis(REDIS_URL); });
  afterEach(async () => { redis.disconnect(); await h.tearDown(); });

  it('does not resolve while a run of this process is in flight, even when Redis shows no work left', async () => {
    const { machine, gate } = gatedMachine(h.api);
    const worker = await h.startWorker({ machines: [machine] });
    const order = await h.order(await h.customer());
    while (!gate.entered) await new Promise((r) => setTimeout(r, 5));
    // What Redis looks like once another worker took over this stalled run's ticket and finished its claims.
    const k = new KeySpace(h.prefix).step('Gated', 'ensure-publication');
    await redis.del(k.claims, k.pending, k.requests);

    let resolved = false;
    const drained = worker.drain({ timeoutMs: 10_000 }).then(() => { resolved = true; });
    await new Promise((r) => setTimeout(r, 500));
    expect(resolved, 'drain() resolved while the run was still in flight').to.equal(false);
    gate.release();
    await drained;
    expect(h.api.publishes(String(order.id))).to.have.length(1);
  });
});
