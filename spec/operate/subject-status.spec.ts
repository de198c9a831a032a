import { expect } from 'chai';
import { canonicalJson, ConfigurationError, digestOf } from '../../lib';
import { Harness } from '../support/harness';
import { WORLDS } from '../support/orms';
import { ApiClient } from '../support/partner-api';

const DRAIN = { timeoutMs: 20_000 };

/** SPEC §6.3 subjectStatus() and §6.2's "never a silent no-op" for notifyChanged, on every ORM and database. */
for (const world of WORLDS) {
  describe(`subjectStatus() and notifyChanged() keys on ${world.orm} + ${world.kind}`, () => {
    let h: Harness;
    beforeEach(async () => { h = await new Harness(world, 'subject').setUp(); });
    afterEach(async () => { await h.tearDown(); });

    it('tells pending, then published (at, digest of what the API got), then failed (error, attempts, at)', async () => {
      const capture = await h.start();
      const customer = await h.customer();
      const order = await h.order(customer);
      await new Promise((r) => setTimeout(r, 50)); // the capture is recorded after commit
      // The new customer is a change to map to subjects too (its orders): said as such, as it may map to this one.
      expect(await capture.subjectStatus(h.shop.OrderToApiSync, order.id)).to.deep.equal({
        machine: 'OrderToApiSync', subject: 'Order', subjectId: String(order.id), exists: true, pending: true, unmapped: 1,
      });

      const worker = await h.startWorker();
      await worker.drain(DRAIN);
      const before = Date.now();
      const published = await capture.subjectStatus('OrderToApiSync', String(order.id));
      expect(published.pending).to.equal(false);
      expect(published.unmapped).to.equal(undefined);
      expect(published.failed).to.equal(undefined);
      expect(published.published!.digest).to.equal(digestOf(canonicalJson(h.api.documents.get(String(order.id)))));
      expect(published.published!.at.getTime()).to.be.within(before - 10_000, before + 1000);
      await worker.close();

      // A failing publish with its attempts used up.
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      machine.publish = async () => { throw new Error('partner API answered 500'); };
      const failing = await h.startWorker({ machines: [machine], worker: { retry: { attempts: 2, initialDelayMs: 10 } } });
      await h.update(order, { status: 'shipped' });
      await failing.drain(DRAIN);
      const failed = await capture.subjectStatus(h.shop.OrderToApiSync, order.id);
      expect(failed.pending).to.equal(false);
      expect(failed.published!.digest).to.equal(published.published!.digest); // the last *successful* publish
      expect(failed.failed!.error).to.equal(`OrderToApiSync.publish threw for Order ${order.id}: partner API answered 500`);
      expect(failed.failed!.attempts).to.equal(2);
      expect(failed.failed!.at.getTime()).to.be.at.least(before - 10_000);

      // Unpublished (a draft now): said so, with the version of its unpublish (a trial's voided invoice read "never").
      const after = await h.startWorker();
      await h.update(order, { status: 'draft' });
      await after.drain(DRAIN);
      const unpublished = await capture.subjectStatus(h.shop.OrderToApiSync, order.id);
      // Version 3: above the failed publish's 2 above, whose calls may have reached the API.
      expect([unpublished.exists, unpublished.published, unpublished.unpublished]).to.deep.equal([true, undefined, { version: 3 }]);
      await after.close();

      const never = await capture.subjectStatus(h.shop.OrderToApiSync, 999_999);
      // No such row: said (a trial's read like a subject never published).
      expect(never).to.deep.equal({ machine: 'OrderToApiSync', subject: 'Order', subjectId: '999999', exists: false, pending: false });
      // An id the integer key cannot hold would read as a subject never published: refused instead.
      const malformed = await capture.subjectStatus(h.shop.OrderToApiSync, '4x').then(() => 'accepted', (e: Error) => e.message);
      expect(malformed).to.equal('subjectStatus(OrderToApiSync, id): Order.id is an integer key, so ids must be whole numbers; ' +
        '"4x" is not one. Nothing was done: fix it and call again.');
      const unknown = await capture.subjectStatus('CustomerSync', 1).then(() => undefined, (e: unknown) => e);
      expect(unknown).to.be.instanceOf(ConfigurationError);
      expect((unknown as Error).message).to.match(/^CustomerSync is not one of the started machines \(OrderToApiSync\)/);
    });

    it('notifyChanged refuses keys no machine watches, naming the watched fields; the all-keys form runs the subjects', async () => {
      const worker = await h.startWorker();
      const customer = await h.customer();
      const order = await h.order(customer);
      await worker.drain(DRAIN);
      const { Customer } = h.shop;

      let error = await worker.notifyChanged(Customer, customer.id, ['email']).then(() => undefined, (e: unknown) => e);
      expect(error).to.be.instanceOf(ConfigurationError);
      expect((error as Error).message).to.equal(`notifyChanged(Customer, ids, [email]) would do nothing: no machine watches ` +
        'that field of Customer (OrderToApiSync watches firstName, lastName). Pass a watched field, add it to ' +
        '@ListenTo(Customer, { fields }), or omit changedKeys to treat every field as changed: notifyChanged(Customer, ids).');
      error = await worker.notifyChanged(Customer, customer.id, ['nickname']).then(() => undefined, (e: unknown) => e);
      expect((error as Error).message).to.match(/^notifyChanged\(Customer, ids, \[nickname\]\): Customer has no property nickname; its properties are .*firstName/);
      error = await worker.notifyChanged(Customer, customer.id, []).then(() => undefined, (e: unknown) => e);
      expect((error as Error).message).to.match(/changedKeys must be a non-empty array of property names \(got \[\]\)/);
      error = await worker.notifyChanged(h.shop.Order, [order.id, `${order.id}x`]).then(() => undefined, (e: unknown) => e);
      expect(error).to.be.instanceOf(ConfigurationError);
      expect((error as Error).message).to.equal(`notifyChanged(Order, ids): Order.id is an integer key, so ids must be whole ` +
        `numbers; "${order.id}x" is not one. Nothing was done: fix it and call again.`);
      expect(await worker.subjectStatus('OrderToApiSync', order.id)).to.have.property('pending', false);

      // A misspelled option of a call is refused, not ignored: `timeout` would wait forever, `id` reconcile every row.
      const refused = (call: Promise<unknown>) => call.then(() => 'accepted', (e: Error) => e.message);
      expect(await refused(worker.drain({ timeout: 5 } as never))).to.equal(
        'drain(options): unknown option "timeout"; did you mean "timeoutMs"? It takes `timeoutMs`.');
      expect(await refused(worker.drain({ timeoutMs: '5' } as never))).to.equal(
        'drain({ timeoutMs }) must be a number of milliseconds above 0, got "5"; omit it to wait as long as it takes.');
      expect(await refused(worker.reconcile('OrderToApiSync', { id: [order.id] } as never))).to.match(
        /^reconcile\(OrderToApiSync, options\): unknown option "id"; did you mean "ids"\?/);
      expect(await refused(worker.status({ limits: 3 } as never))).to.match(/^status\(options\): unknown option "limits"; did you mean "limit"\?/);
      expect(await refused(worker.retryFailed('OrderToApiSync', { steps: 'find-subjects' } as never))).to.match(
        /^retryFailed\(OrderToApiSync, options\): unknown option "steps"; did you mean "step"\?/);

      // A raw SQL rename the ORM never saw: the all-keys form and a watched key both reach the order.
      await h.w.sql(`UPDATE customers SET first_name = 'Janet' WHERE id = ${customer.id}`);
      await worker.notifyChanged(Customer, customer.id);
      expect((await worker.drain(DRAIN)).outcomes).to.deep.equal({ published: 1 });
      expect(h.api.documents.get(String(order.id))!.customer_full_name).to.equal('Janet Yang');
      await worker.notifyChanged(Customer, [customer.id], ['email', 'lastName']);
      expect((await worker.drain(DRAIN)).outcomes).to.deep.equal({ unchanged: 1 });
    });
  });
}
