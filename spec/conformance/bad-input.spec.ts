import { expect } from 'chai';
import BeeQueue from 'bee-queue';
import { Build, ListenTo, Publish, SyncMachine } from '../../lib';
import { Harness } from '../support/harness';
import { ShopOrder, WORLDS } from '../support/orms';
import type { Shop } from '../support/orms/world';
import { ApiClient, PartnerApi } from '../support/partner-api';
import { REDIS_URL } from '../support/redis';

const DRAIN = { timeoutMs: 20_000 };

/** A machine whose hooks misbehave on demand, keyed by the order's status. */
function troubledMachine(api: PartnerApi, { Order }: Shop) {
  @SyncMachine({ subject: Order, name: 'Troubled' })
  @ListenTo(Order)
  class TroubledSync {
    client = new ApiClient(api.url);

    @Build()
    build(order: ShopOrder) {
      if (order.status === 'explode') throw new Error('cannot build an exploding order');
      if (order.status === 'bigint') return { id: String(order.id), total: BigInt(12) };
      return { id: String(order.id), order_status: order.status };
    }

    @Publish()
    async publish(order: ShopOrder, payload: unknown) {
      await this.client.putOrder(String(order.id), payload);
    }
  }
  return new TroubledSync();
}

for (const world of WORLDS) {
  describe(`bad input never kills a worker, on ${world.orm} + ${world.kind}`, () => {
    let h: Harness;

    beforeEach(async () => { h = await new Harness(world, 'bad-input').setUp(); });
    afterEach(async () => h.tearDown());

    it('fails malformed and unknown job data with a clear error, and keeps working', async () => {
      const worker = await h.startWorker();
      const raw = (step: string) => new BeeQueue(`OrderToApiSync:${step}`, { prefix: h.prefix, redis: { url: REDIS_URL }, isWorker: false, getEvents: false });
      const [lookups, publications] = [raw('find-subjects'), raw('ensure-publication')];
      const junk: Array<[BeeQueue, unknown]> = [
        [publications, 'garbage'],
        [publications, { v: 1, machine: 'OrderToApiSync' }],
        [publications, { v: 2, machine: 'OrderToApiSync', subjectId: '1', gen: '0' }],
        [publications, { v: 1, machine: 'SomeoneElse', subjectId: '1', gen: '0' }],
        [publications, { v: 1, machine: 'OrderToApiSync', subjectId: '1', gen: 'require("fs")' }],
        [lookups, { v: 1, machine: 'OrderToApiSync', entity: 'NoSuchEntity', id: '1', gen: '0' }],
        [lookups, { v: 1, machine: 'OrderToApiSync', entity: 'Customer', id: '' , gen: '0' }],
        [lookups, null],
      ];
      for (const [queue, data] of junk) await queue.createJob(data as object).save();
      await worker.drain(DRAIN);

      const errors = h.logger.errors();
      expect(errors).to.have.length(junk.length);
      for (const line of errors) expect(line).to.match(/failed \(attempt 1, no retries left: kept in the failed set\)/);
      expect(errors.filter((e) => e.includes('is malformed'))).to.have.length(7);
      expect(errors.some((e) => e.includes('has no @SubjectIdsFrom(NoSuchEntity)'))).to.equal(true);
      expect(errors.some((e) => e.includes('enqueue work with notifyChanged() or resync()'))).to.equal(true);
      const failed = (await publications.checkHealth()).failed + (await lookups.checkHealth()).failed;
      expect(failed).to.equal(junk.length);

      const order = await h.order(await h.customer());
      await worker.drain(DRAIN);
      expect(h.api.publishes(String(order.id))).to.have.length(1);
      await Promise.all([lookups.close(), publications.close()]);
    });

    it('treats a subject that vanished as nothing to publish, with a warning', async () => {
      const worker = await h.startWorker();
      await worker.resync(h.shop.OrderToApiSync, { ids: [999, 'not-a-number'] });
      await worker.drain(DRAIN);
      expect(h.api.received).to.deep.equal([]);
      expect(h.logger.warnings().filter((w) => /OrderToApiSync: Order (999|not-a-number) is gone and was never published/.test(w)))
        .to.have.length(2);
      expect(h.logger.errors()).to.deep.equal([]);
    });

    it('fails a throwing hook and a BigInt payload with errors naming machine, method, entity and id', async () => {
      const worker = await h.startWorker({ machines: [troubledMachine(h.api, h.shop)] });
      const customer = await h.customer();
      const exploding = await h.order(customer, { status: 'explode' });
      const big = await h.order(customer, { status: 'bigint' });
      const fine = await h.order(customer, { status: 'shipped' });
      await worker.drain(DRAIN);
      const errors = h.logger.errors();
      expect(errors.some((e) => e.includes(`TroubledSync.build threw for Order ${exploding.id}: cannot build an exploding order`))).to.equal(true);
      expect(errors.some((e) => e.includes(`TroubledSync.build returned a payload for Order ${big.id} that is not JSON-serialisable: the BigInt 12n at $.total`))).to.equal(true);
      expect(errors.filter((e) => e.includes('no retries left'))).to.have.length(2);
      expect(h.api.publishes().map((r) => r.id)).to.deep.equal([String(fine.id)]);
      expect(await h.w.sql('SELECT subject_id FROM sync_machine_payloads')).to.deep.equal([{ subject_id: String(fine.id) }]);

      // Once fixed in the data, the same subjects publish: nothing stays stuck.
      await h.update(exploding, { status: 'shipped' });
      await h.update(big, { status: 'shipped' });
      await worker.drain(DRAIN);
      expect(h.api.publishes().map((r) => r.id).sort()).to.deep.equal([exploding.id, big.id, fine.id].map(String).sort());
    });

    it('a @SubjectIdsFrom method returning garbage fails that lookup only', async () => {
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      machine.ordersOf = () => [{ not: 'an id' }] as never;
      const worker = await h.startWorker({ machines: [machine] });
      const customer = await h.customer();
      await worker.drain(DRAIN);
      expect(h.logger.errors().join('\n')).to.include(
        `OrderToApiSync.ordersOf returned {"not":"an id"} among the subject ids for Customer ${customer.id}: return Order ids`);
      const order = await h.order(customer);
      await worker.drain(DRAIN);
      expect(h.api.publishes(String(order.id))).to.have.length(1);
    });
  });
}
