import { expect } from 'chai';
import Redis from 'ioredis';
import { ConfigurationError, SyncMachine } from '../../lib';
import { KeySpace } from '../../lib/redis/keys';
import type { OrderPayload } from '../support/order-sync';
import { Harness } from '../support/harness';
import { ShopOrder, WORLDS } from '../support/orms';
import { ApiClient } from '../support/partner-api';
import { REDIS_URL } from '../support/redis';

const DRAIN = { timeoutMs: 20_000 };

/**
 * Every key of the prefix with its value: what reconcile must leave exactly as it was. Bee-Queue's stall-check
 * marker is left out: a closed worker's expires on its own.
 */
async function redisSnapshot(redis: Redis, prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of (await redis.keys(new KeySpace(prefix).pattern())).filter((k) => !k.endsWith(':stallBlock')).sort()) {
    out[key] = (await redis.dumpBuffer(key))?.toString('base64') ?? '';
  }
  return out;
}

/** SPEC §6.3/§6.5 reconcile(): a dry run that builds, compares with the store, and publishes and writes nothing. */
for (const world of WORLDS) {
  describe(`reconcile() on ${world.orm} + ${world.kind}`, () => {
    let h: Harness;
    let redis: Redis;
    beforeEach(async () => { h = await new Harness(world, 'reconcile').setUp(); redis = new Redis(REDIS_URL); });
    afterEach(async () => { redis.disconnect(); await h.tearDown(); });

    it('after a change to @Build lists exactly the subjects whose payload changed; the API receives nothing', async () => {
      const worker = await h.startWorker();
      const customer = await h.customer();
      const made: ShopOrder[] = [];
      for (const status of ['purchased', 'shipped', 'shipped', 'purchased', 'draft']) made.push(await h.order(customer, { status }));
      await worker.drain(DRAIN);
      await worker.close();
      const [plain, shipped1, shipped2, withdrawn, draft] = made.map((o) => String(o.id));
      expect(h.api.publishes()).to.have.length(4);
      // Not captured (raw SQL): a run would now unpublish it.
      await h.w.sql(`UPDATE orders SET status = 'draft' WHERE id = ${withdrawn}`);

      // The deploy: the same machine name, a build that shouts the status of shipped orders.
      @SyncMachine({ subject: h.shop.Order, name: 'OrderToApiSync' })
      class Shouting extends h.shop.OrderToApiSync {
        build(order: ShopOrder): OrderPayload {
          const payload = super.build(order);
          return order.status === 'shipped' ? { ...payload, order_status: 'SHIPPED' } : payload;
        }
      }
      const sync = await h.start({ machines: [new Shouting(new ApiClient(h.api.url))] });
      const requestsBefore = h.api.received.length;
      const storedBefore = await h.w.sql('SELECT * FROM sync_machine_payloads ORDER BY subject_id');
      const keysBefore = await redisSnapshot(redis, h.prefix);

      const report = await sync.reconcile(Shouting, { batchSize: 2 }); // pages of 2: the walk crosses pages
      expect(report.checked).to.equal(5);
      expect(report.unchanged).to.equal(1);
      expect(report.errors).to.deep.equal([]);
      expect(report.limited).to.equal(false);
      expect(report.differing.map((d) => d.subjectId)).to.deep.equal([shipped1, shipped2]);
      const first = report.differing[0];
      expect(first.stored).to.deep.include({ id: shipped1, order_status: 'shipped' });
      expect(first.built).to.deep.include({ id: shipped1, order_status: 'SHIPPED' });
      expect(first.storedDigest).to.match(/^[0-9a-f]{64}$/);
      expect(first.builtDigest).to.match(/^[0-9a-f]{64}$/).and.not.equal(first.storedDigest);
      expect(report.unpublishable.map(({ subjectId, reason, wouldUnpublish }) => ({ subjectId, reason, wouldUnpublish }))).to.deep.equal([
        { subjectId: withdrawn, reason: 'not_publishable', wouldUnpublish: true },
        { subjectId: draft, reason: 'not_publishable', wouldUnpublish: false },
      ]);
      expect(report.unpublishable[0].stored).to.deep.include({ id: withdrawn, order_status: 'purchased' });

      // ids (a missing one is "gone"), where, limit.
      const byIds = await sync.reconcile('OrderToApiSync', { ids: [shipped1, plain, 999_999] });
      expect([byIds.checked, byIds.unchanged, byIds.differing.map((d) => d.subjectId), byIds.unpublishable])
        .to.deep.equal([3, 1, [shipped1], [{ subjectId: '999999', reason: 'gone', wouldUnpublish: false }]]);
      const byWhere = await sync.reconcile(Shouting, { where: { status: 'shipped' } });
      expect([byWhere.checked, byWhere.differing.map((d) => d.subjectId)]).to.deep.equal([2, [shipped1, shipped2]]);
      const limited = await sync.reconcile(Shouting, { limit: 2 });
      expect([limited.checked, limited.limited, limited.differing.map((d) => d.subjectId)]).to.deep.equal([2, true, [shipped1]]);
      await sync.reconcile(Shouting, { ids: [1], where: { status: 'x' } }).then(
        () => expect.fail('ids and where together must be refused'),
        (error) => expect(error).to.be.instanceOf(ConfigurationError));

      // A dry run: nothing sent, nothing stored, no Redis key touched.
      expect(h.api.received.length).to.equal(requestsBefore);
      expect(await h.w.sql('SELECT * FROM sync_machine_payloads ORDER BY subject_id')).to.deep.equal(storedBefore);
      expect(await redisSnapshot(redis, h.prefix)).to.deep.equal(keysBefore);
    });

    it('reports a build that throws per subject and goes on with the rest', async () => {
      const capture = await h.start();
      const customer = await h.customer();
      const [good, bad] = [await h.order(customer), await h.order(customer)];
      await capture.close();
      @SyncMachine({ subject: h.shop.Order, name: 'OrderToApiSync' })
      class Picky extends h.shop.OrderToApiSync {
        build(order: ShopOrder): OrderPayload {
          if (order.id === bad.id) throw new Error('no price for this order');
          return super.build(order);
        }
      }
      const sync = await h.start({ machines: [new Picky(new ApiClient(h.api.url))] });
      const report = await sync.reconcile(Picky);
      expect(report.differing.map((d) => [d.subjectId, d.stored])).to.deep.equal([[String(good.id), undefined]]); // never published
      expect(report.errors).to.deep.equal([{ subjectId: String(bad.id), error: `Picky.build threw for Order ${bad.id}: no price for this order` }]);
    });
  });
}
