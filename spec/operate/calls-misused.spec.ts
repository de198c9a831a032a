import { expect } from 'chai';
import { ConfigurationError, type SyncMachines } from '../../lib';
import { ApiClient } from '../support/partner-api';
import { Harness } from '../support/harness';
import { WORLDS } from '../support/orms';

const DRAIN = { timeoutMs: 20_000 };

/** A call's ConfigurationError message, or 'accepted'. */
const refusal = (call: Promise<unknown>) => call.then(() => 'accepted', (e: unknown) => {
  expect(e).to.be.instanceOf(ConfigurationError);
  return (e as Error).message;
});

/**
 * The operating API as a user calls it, right or wrong: a machine by its instance, an entity by its name, options
 * of the wrong shape, and calls after close(). Each wrong call is refused with what was wrong, and nothing is lost.
 */
describe('operating calls, right and misused (TypeORM + SQLite)', () => {
  let h: Harness;
  beforeEach(async () => { h = await new Harness('sqlite', 'calls').setUp(); });
  afterEach(async () => { await h.tearDown(); });

  it('takes the machine instance given to start(), and the entity by its name', async () => {
    const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
    const worker = await h.startWorker({ machines: [machine] });
    const order = await h.order(await h.customer());
    await worker.drain(DRAIN);
    expect((await worker.subjectStatus(machine, order.id)).published?.version).to.equal(1);
    expect(await worker.resync(machine, { ids: [order.id], force: true })).to.deep.equal({ enqueued: 1 });
    expect((await worker.drain(DRAIN)).outcomes).to.deep.equal({ published: 1 });
    await worker.notifyChanged('Order', order.id);
    expect((await worker.drain(DRAIN)).outcomes).to.deep.equal({ unchanged: 1 });
    expect(await refusal(worker.notifyChanged('Invoice', 1))).to.equal(
      'notifyChanged(Invoice): no machine listens to it; add @ListenTo(Invoice) to a machine, or drop the call.');
  });

  it('refuses options of the wrong shape, saying what they must be', async () => {
    const sync = await h.start();
    expect(await refusal(sync.status({ machines: 'OrderToApiSync' as never }))).to.equal(
      'status({ machines }) takes an array of machines (names, classes or instances), got "OrderToApiSync".');
    expect(await refusal(sync.status({ limit: -1 }))).to.equal('status({ limit }) must be a whole number, 0 or more, got -1.');
    expect(await refusal(sync.resync('OrderToApiSync', { force: 'yes' as never }))).to.equal(
      'resync(OrderToApiSync): force must be true or false, got "yes".');
    expect(await refusal(sync.drain({ timeoutMs: 0 }))).to.equal(
      'drain({ timeoutMs }) must be a number of milliseconds above 0, got 0; omit it to wait as long as it takes.');
    const operator = 'where.status is {"$ne":"new"}; only strings, numbers, booleans, dates and null compare by equality. ' +
      'For other selections pass the subject ids (`ids`).';
    expect(await refusal(sync.reconcile('OrderToApiSync', { where: { status: { $ne: 'new' } } as never }))).to.equal(
      `reconcile(OrderToApiSync): ${operator}`);
    expect(await refusal(sync.resync('OrderToApiSync', { where: { status: { $ne: 'new' } } as never }))).to.equal(
      `resync(OrderToApiSync): ${operator}`);
  });

  it('after close(), every call says the runtime is closed, and drain() does not hang', async () => {
    const sync: SyncMachines = await h.start();
    await sync.close();
    const closed = (call: string) => `${call}(): this SyncMachines runtime was closed (close() was called), so it has no ` +
      'Redis connection any more: call it before close(), or start a new runtime with SyncMachines.start().';
    expect(await refusal(sync.drain())).to.equal(closed('drain'));
    expect(await refusal(sync.notifyChanged(h.shop.Order, 1))).to.equal(closed('notifyChanged'));
    expect(await refusal(sync.resync('OrderToApiSync'))).to.equal(closed('resync'));
    expect(await refusal(sync.reconcile('OrderToApiSync'))).to.equal(closed('reconcile'));
    expect(await refusal(sync.status())).to.equal(closed('status'));
    expect(await refusal(sync.subjectStatus('OrderToApiSync', 1))).to.equal(closed('subjectStatus'));
    expect(await refusal(sync.retryFailed('OrderToApiSync'))).to.equal(closed('retryFailed'));
  });
});

/**
 * A `where` value of the wrong type for its column: refused before any query, on every database, since MySQL/MariaDB
 * and SQLite convert it and match other rows (`{ version: 'abc' }` matched the rows whose version is 0). One that
 * fits the column's family and still is refused by the database (`'1.5'` for an integer on PostgreSQL) fails with
 * the call, the entity and the filter named. Either way nothing is requested.
 */
for (const world of WORLDS) {
  describe(`where values of the wrong type for their column, on ${world.orm} + ${world.kind}`, () => {
    let h: Harness;
    beforeEach(async () => { h = await new Harness(world, 'where-type').setUp(); });
    afterEach(async () => { await h.tearDown(); });

    const failure = (call: Promise<unknown>) => call.then(() => 'accepted', (e: unknown) => (e as Error).message);

    it('are refused before any query, with the column, its type and the fix, and nothing is requested', async () => {
      const sync = await h.startWorker();
      await h.order(await h.customer()); // version 0, which the databases that convert took 'abc' for
      await sync.drain(DRAIN);
      const numeric = 'Order.version is a numeric column, and "abc" is not a number (or a string of one, \'12.50\'), so ' +
        'no row can equal it (MySQL/MariaDB and SQLite would convert it and match other rows). Give version a number ' +
        "(or a string of one, '12.50'). Nothing was requested.";
      expect(await refusal(sync.resync('OrderToApiSync', { where: { version: 'abc' } }))).to.equal(`resync(OrderToApiSync): ${numeric}`);
      expect(await refusal(sync.reconcile('OrderToApiSync', { where: { version: '1abc' } }))).to.match(
        /^reconcile\(OrderToApiSync\): Order\.version is a numeric column, and "1abc" is not a number/);
      expect(await refusal(sync.resync('OrderToApiSync', { where: { status: 0 } }))).to.equal('resync(OrderToApiSync): ' +
        "Order.status is a text column, and 0 is not a string ('42', not 42), so no row can equal it (MySQL/MariaDB and " +
        "SQLite would convert it and match other rows). Give status a string ('42', not 42). Nothing was requested.");
      const [{ queues }] = await sync.status();
      expect(queues['ensure-publication']).to.include({ waiting: 0, active: 0, delayed: 0 });
      // Values of the column's family go through: numbers as strings too, and null.
      expect(await sync.resync('OrderToApiSync', { where: { version: '0', status: 'purchased' }, force: true })).to.deep.equal({ enqueued: 1 });
      expect(await sync.resync('OrderToApiSync', { where: { version: 0, status: null } })).to.deep.equal({ enqueued: 0 });
    });

    if (world.kind === 'postgres') {
      it('one the database refuses fails with the call, the entity, the filter and the fix, and requests nothing', async () => {
        const sync = await h.startWorker();
        await h.order(await h.customer());
        await sync.drain(DRAIN);
        const resync = await failure(sync.resync('OrderToApiSync', { where: { version: '1.5' } }));
        expect(resync).to.match(/^resync\(OrderToApiSync\): the query for Order where \{ version: "1\.5" \} failed \(.*integer.*\)\. /);
        expect(resync).to.contain("give each column of `where` a value of that column's type").and.to.match(/Nothing was requested\.$/);
        // With onProgress the COUNT is the first query.
        const counted = await failure(sync.resync('OrderToApiSync', { where: { version: '1.5' }, onProgress: () => {} }));
        expect(counted).to.match(/^resync\(OrderToApiSync\): the query for Order where \{ version: "1\.5" \} failed/);
        const reconcile = await failure(sync.reconcile('OrderToApiSync', { where: { version: '1.5' } }));
        expect(reconcile).to.match(/^reconcile\(OrderToApiSync\): the query for Order where \{ version: "1\.5" \} failed/);
        const [{ queues }] = await sync.status();
        expect(queues['ensure-publication']).to.include({ waiting: 0, active: 0, delayed: 0 });
      });
    }
  });
}
