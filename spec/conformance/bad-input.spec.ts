import { expect } from 'chai';
import BeeQueue from 'bee-queue';
import { Build, ListenTo, Publish, SyncMachine } from '../../lib';
import { Harness } from '../support/harness';
import { ShopOrder, WORLDS } from '../support/orms';
import type { Shop } from '../support/orms/world';
import { ApiClient, PartnerApi } from '../support/partner-api';
import { REDIS_URL } from '../support/redis';
import Redis from 'ioredis';
import { KeySpace } from '../../lib/redis/keys';

async function until(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

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
      if (order.status === 'nothing') return undefined as never; // a branch that forgot its return
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

    // PostgreSQL only: SQLite has no schemas, and on MySQL another database holding the table is as likely another app's.
    if (world.kind === 'postgres') it('a payload table in another schema is named where it is, not only "create it"', async () => {
      // A trial's entities named schema 'shop' while its connection looked in 'public': the error said to create the
      // table, and the one made then was empty, so every order was published again, with versions from 1.
      const other = `sm_elsewhere_${Math.random().toString(36).slice(2, 8)}`;
      const [here] = await h.w.sql('SELECT current_schema() AS name');
      const move = (from: string, to: string) => h.w.sql(`ALTER TABLE "${from}".sync_machine_payloads SET SCHEMA "${to}"`);
      await h.w.sql(`CREATE SCHEMA "${other}"`);
      try {
        await move(String(here.name), other);
        const refused = await h.startWorker().then(() => undefined, (e: Error) => e);
        // Where it is comes first: "create it" led a trial to an empty second table.
        expect(refused?.message, refused?.message).to.match(new RegExp('^The payload table sync_machine_payloads cannot be ' +
          // Other suites' schemas in this shared database hold one too.
          `read \\(.*\\)\\. A sync_machine_payloads table exists in ("[\\w]+", )*"${other}"(, "[\\w]+")*, where this connection does not look: if ` +
          "it is this app's, point the connection there \\(TypeORM: the DataSource's `schema` option; MikroORM: `schema` " +
          'in its config\\) rather than creating another, which would start empty: every subject would be published ' +
          'again, with versions from 1\\. Only for an app that has none yet: (add|create) '));
        await move(other, String(here.name));
        await (await h.startWorker()).close(); // where it looks again: it starts
      } finally {
        await h.w.sql(`DROP SCHEMA "${other}" CASCADE`);
      }
    });

    it('fails malformed queue jobs with a clear error, and keeps working', async () => {
      const worker = await h.startWorker();
      const raw = (step: string) => new BeeQueue(`OrderToApiSync:${step}`, { prefix: h.prefix, redis: { url: REDIS_URL }, isWorker: false, getEvents: false });
      const [lookups, publications] = [raw('find-subjects'), raw('ensure-publication')];
      const junk: Array<[BeeQueue, unknown]> = [
        [publications, 'garbage'],
        [publications, { v: 1, machine: 'OrderToApiSync', subjectId: '1', gen: '0' }],
        [publications, { v: 2, machine: 'SomeoneElse', step: 'ensure-publication' }],
        [publications, { v: 2, machine: 'OrderToApiSync', step: 'find-subjects' }],
        [lookups, { v: 2, machine: 'OrderToApiSync', step: 'find-subjects', extra: 'require("fs")' }],
        [lookups, null],
      ];
      for (const [queue, data] of junk) await queue.createJob(data as object).save();
      await worker.drain(DRAIN);
      await until(async () => (await publications.checkHealth()).failed + (await lookups.checkHealth()).failed === junk.length - 1);

      const errors = h.logger.errors();
      // The ticket with an extra field is a ticket: it runs, finds nothing to do and is no error.
      expect(errors).to.have.length(junk.length - 1);
      for (const line of errors) expect(line).to.match(/^Job \d+ in \S+ is malformed \(.+\): .* It was not run and stays in the failed set\.$/);
      expect(errors.some((e) => e.includes('(machine is not "OrderToApiSync")'))).to.equal(true);
      expect(errors.some((e) => e.includes('(step is not "ensure-publication")'))).to.equal(true);

      const order = await h.order(await h.customer());
      await worker.drain(DRAIN);
      expect(h.api.publishes(String(order.id))).to.have.length(1);
      await Promise.all([lookups.close(), publications.close()]);
    });

    it('records a corrupt pending request as failed at once, naming the item, and runs the rest of its batch', async () => {
      const worker = await h.startWorker();
      const customer = await h.customer();
      const orders = [await h.order(customer), await h.order(customer)];
      await worker.drain(DRAIN);
      const keys = new KeySpace(h.prefix).step('OrderToApiSync', 'ensure-publication');
      const redis = new Redis(REDIS_URL);
      await redis.hset(keys.requests, String(orders[0].id), '{"k:status": 7}');
      await redis.zadd(keys.pending, 0, String(orders[0].id));
      redis.disconnect();
      await h.update(orders[1], { status: 'shipped' });
      await worker.drain(DRAIN);

      // The first two at set-up, then orders[1]'s change; the batch's items publish concurrently, in any order.
      expect(h.api.publishes().map((r) => r.id).sort()).to.deep.equal([String(orders[0].id), String(orders[1].id), String(orders[1].id)].sort());
      expect(h.api.publishes(String(orders[1].id)).map((r) => r.body!.order_status)).to.deep.equal(['purchased', 'shipped']);
      const [status] = await worker.status();
      expect(status.failures.map((f) => [f.id, f.attempts])).to.deep.equal([[String(orders[0].id), 1]]);
      expect(status.failures[0].error).to.equal(`The pending request of ensure-publication Order ${orders[0].id} of OrderToApiSync ` +
        'is malformed (field "k:status" is not a string): {"k:status": 7}. Requests are written by sync-machine itself; ' +
        'enqueue work with notifyChanged() or resync() instead of writing to its keys.');
      // A later change runs it again from current data.
      await h.update(orders[0], { status: 'received' });
      await worker.drain(DRAIN);
      expect(h.api.documents.get(String(orders[0].id))).to.include({ order_status: 'received' });
      expect((await worker.status())[0].failures).to.deep.equal([]);
    });

    it('a corrupt pending request of a subject whose async @Build rejects: recorded as failed, and the worker lives on', async () => {
      const customer = await h.customer();
      const order = await h.order(customer);
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      machine.build = (() => Promise.reject(new Error('no payload yet'))) as unknown as typeof machine.build;
      const rejections: unknown[] = [];
      const onRejection = (reason: unknown) => rejections.push(reason);
      process.on('unhandledRejection', onRejection);
      try {
        const keys = new KeySpace(h.prefix).step('OrderToApiSync', 'ensure-publication');
        const redis = new Redis(REDIS_URL);
        await redis.hset(keys.requests, String(order.id), '{"k:status": 7}');
        await redis.zadd(keys.pending, 0, String(order.id));
        redis.disconnect();
        const worker = await h.startWorker({ machines: [machine], worker: { retry: { attempts: 1, initialDelayMs: 10 } } });
        await worker.resync(h.shop.OrderToApiSync, { ids: [order.id] }); // a bare request: the corrupt one stays
        await worker.drain(DRAIN);
        await new Promise((r) => setTimeout(r, 50)); // an unhandled rejection is reported on a later turn
        const [status] = await worker.status();
        expect(status.failures.map((f) => f.id)).to.deep.equal([String(order.id)]);
        expect(status.failures[0].error).to.match(/^The pending request of ensure-publication Order \d+ of OrderToApiSync is malformed/);
        expect(rejections).to.deep.equal([]);
      } finally {
        process.off('unhandledRejection', onRejection);
      }
    });

    it('a changed row gone without a snapshot is warned of once, naming a soft delete and its fix', async () => {
      const worker = await h.startWorker();
      await worker.notifyChanged(h.shop.Customer, 999_999); // a row its load does not find: deleted, or filtered
      await worker.drain(DRAIN);
      expect(h.api.received).to.deep.equal([]);
      expect(h.logger.warnings().filter((w) => w.includes('Customer 999999'))).to.deep.equal([
        'OrderToApiSync: Customer 999999 is gone (or hidden from the load: soft-deleted, or filtered) and no snapshot of it ' +
        'was captured, so its subjects cannot be found; resync(OrderToApiSync) if its subjects changed. For a soft-deleted ' +
        'row whose @ListenTo(Customer) names `fields`, add its delete column to them: its restore is then a change, and maps ' +
        'the row to its subjects.',
      ]);
    });

    it('treats a subject that vanished as nothing to publish, with a warning', async () => {
      const worker = await h.startWorker();
      // resync() refuses an id an integer key cannot hold, but one can still reach a run (a mapper's string, a
      // request written by hand): it is gone too.
      const keys = new KeySpace(h.prefix).step('OrderToApiSync', 'ensure-publication');
      const redis = new Redis(REDIS_URL);
      await redis.zadd(keys.pending, 0, 'not-a-number');
      redis.disconnect();
      await worker.resync(h.shop.OrderToApiSync, { ids: [999] });
      await worker.drain(DRAIN);
      expect(h.api.received).to.deep.equal([]);
      // One line per batch: the two are said alone or together, as the runs took them.
      const gone = h.logger.warnings().filter((w) => / gone and ha(s|ve) no stored payload \(never published\): nothing to do/.test(w));
      expect(gone.join('\n'), h.logger.warnings().join('\n')).to.match(gone.length === 1
        ? /^OrderToApiSync: 2 subjects are gone and have no stored payload .*\((Order 999|Order not-a-number), (Order 999|Order not-a-number)\)\. If such a row is in the database, the machine's load does not find it: .*$/
        : /^OrderToApiSync: Order (999|not-a-number) is gone .*\nOrderToApiSync: Order (999|not-a-number) is gone /);
      expect(gone.join('\n')).to.include('Order 999').and.include('Order not-a-number');
      expect(h.logger.errors()).to.deep.equal([]);
    });

    it('a subject gone that was unpublished already needs nothing, and is not warned of', async () => {
      const worker = await h.startWorker();
      const order = await h.order(await h.customer());
      await worker.drain(DRAIN);
      await h.w.removeOrder(order.id);
      await worker.drain(DRAIN);
      expect(h.api.received.map((r) => r.method)).to.deep.equal(['PUT', 'DELETE']);
      // Found again, as a removed line of it would find it (a trial: an Order's removal, then its lines').
      await worker.resync(h.shop.OrderToApiSync, { ids: [order.id] });
      await worker.drain(DRAIN);
      expect(h.api.received).to.have.length(2);
      expect(h.logger.warnings(), 'before, "is gone and has no stored payload"').to.deep.equal([]);
    });

    it('subjects deleted before their first publish say nothing when their removal was captured, and are one warning per batch when notified', async () => {
      const capture = await h.start(); // captures only: the inserts and deletes wait for one run
      const customer = await h.customer();
      const drafts = [];
      for (let i = 0; i < 12; i++) drafts.push(await h.order(customer));
      for (const draft of drafts) await h.w.removeOrder(draft.id);
      const worker = await h.startWorker();
      await worker.drain(DRAIN);
      expect(h.api.received).to.deep.equal([]);
      // Their own removals, captured: gone as expected (a trial's cleanup of drafts read "the machine's load does not
      // find it" on every batch).
      expect(h.logger.warnings().filter((w) => w.includes('no stored payload'))).to.deep.equal([]);
      // Notified (raw SQL, say), a gone row may be one the load does not find: said, once per batch.
      await capture.notifyChanged(h.shop.Order, drafts.map((d) => d.id));
      await worker.drain(DRAIN);
      expect(h.api.received).to.deep.equal([]);
      // Before, a line per order: a migration deleting 10,000 drafts logged 10,000.
      const gone = h.logger.warnings().filter((w) => w.includes('no stored payload'));
      expect(gone, gone.join('\n')).to.have.length(1);
      expect(gone[0]).to.match(/^OrderToApiSync: 12 subjects are gone and have no stored payload \(never published\): nothing to do \((Order \d+, ){9}Order \d+ and 2 more\)\. If such a row is in the database, the machine's load does not find it: it is of another class of its table \(single-table inheritance\), a filter or a soft delete hides it, or a relation its load joins \(eager, or in `relations`\) leaves it out\.$/);
      // Named in the order a reader counts (a trial read "Article 10, Article 100, Article 101"): the first ten drafts.
      expect([...gone[0].matchAll(/Order (\d+)/g)].map((m) => Number(m[1]))).to.deep.equal(drafts.slice(0, 10).map((d) => d.id));
      await capture.close();
    });

    it('fails a throwing hook and a BigInt payload with errors naming machine, method, entity and id', async () => {
      const worker = await h.startWorker({ machines: [troubledMachine(h.api, h.shop)] });
      const customer = await h.customer();
      const exploding = await h.order(customer, { status: 'explode' });
      const big = await h.order(customer, { status: 'bigint' });
      const fine = await h.order(customer, { status: 'shipped' });
      const nothing = await h.order(customer, { status: 'nothing' });
      await worker.drain(DRAIN);
      const errors = h.logger.errors();
      expect(errors.some((e) => e.includes(`TroubledSync.build threw for Order ${exploding.id}: cannot build an exploding order`))).to.equal(true);
      expect(errors.some((e) => e.includes(`TroubledSync.build returned a payload for Order ${big.id} that is not JSON-serialisable: the BigInt 12n at $.total`))).to.equal(true);
      // Before: "an undefined value at $ has no JSON form; use null, or leave it out of the array" (a trial).
      expect(errors.some((e) => e.includes(`TroubledSync.build returned nothing (undefined) for Order ${nothing.id}: return ` +
        'the payload to publish (did a branch miss its return, or an arrow function its parentheses around an object?); to ' +
        'leave a subject unpublished, return false from @CheckPublishable.'))).to.equal(true);
      expect(errors.filter((e) => e.includes('no retries left: recorded as failed'))).to.have.length(3);
      expect(h.api.publishes().map((r) => r.id)).to.deep.equal([String(fine.id)]);
      expect(await h.w.sql('SELECT subject_id FROM sync_machine_payloads')).to.deep.equal([{ subject_id: String(fine.id) }]);

      // Once fixed in the data, the same subjects publish: nothing stays stuck.
      await h.update(exploding, { status: 'shipped' });
      await h.update(big, { status: 'shipped' });
      await h.update(nothing, { status: 'shipped' });
      await worker.drain(DRAIN);
      expect(h.api.publishes().map((r) => r.id).sort()).to.deep.equal([exploding.id, big.id, fine.id, nothing.id].map(String).sort());
    });

    it('a @SubjectIdsFrom method returning garbage fails that lookup only', async () => {
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      machine.ordersOf = () => [{ not: 'an id' }] as never;
      const worker = await h.startWorker({ machines: [machine] });
      const customer = await h.customer();
      await worker.drain(DRAIN);
      expect(h.logger.errors().join('\n')).to.include(
        `OrderToApiSync.ordersOf returned an object ({"not":"an id"}) among the subject ids for Customer ${customer.id}: return Order ids ` +
        '(numbers, or strings of digits), an array of them, or nothing.');
      const order = await h.order(customer);
      await worker.drain(DRAIN);
      expect(h.api.publishes(String(order.id))).to.have.length(1);
    });

    it('a @SubjectIdsFrom method returning ids no subject can have fails, naming them; one spelled otherwise is the subject', async () => {
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      const customer = await h.customer();
      const order = await h.order(customer);
      // 'abc' for an integer key: reported as a gone subject, it hid the mapper's mistake.
      machine.ordersOf = () => ['abc', order.id] as never;
      const worker = await h.startWorker({ machines: [machine] });
      await worker.notifyChanged(h.shop.Customer, customer.id, ['firstName']);
      const { failedChanges } = await worker.drain(DRAIN);
      expect(failedChanges.map((f) => f.error)).to.deep.equal([`OrderToApiSync.ordersOf returned the string "abc" among the subject ids for ` +
        `Customer ${customer.id}, which no Order can have (Order.id is an integer key): return Order ids.`]);
      expect(h.api.publishes(String(order.id))).to.have.length(0);
      // A number past 2^53 may already name another order (a trial's Number() of a bigint key republished the
      // neighbouring shipment, with no error anywhere): refused, naming it, whatever the key.
      machine.ordersOf = () => [2 ** 53 + 2, order.id] as never;
      await worker.notifyChanged(h.shop.Customer, customer.id, ['firstName']);
      expect((await worker.drain(DRAIN)).failedChanges.map((f) => f.error)).to.deep.equal([`OrderToApiSync.ordersOf returned ` +
        `the number 9007199254740994 among the subject ids for Customer ${customer.id}, past Number.MAX_SAFE_INTEGER ` +
        '(2^53 - 1), where a number may already have lost digits (9007199254740993 reads as 9007199254740992) and so ' +
        'name another row: return Order ids as the strings the ORM gives (or as BigInts).']);
      expect(h.api.publishes(String(order.id))).to.have.length(0);
      // '007' is order 7.
      machine.ordersOf = () => [`00${order.id}`] as never;
      await worker.notifyChanged(h.shop.Customer, customer.id, ['firstName']);
      expect((await worker.drain(DRAIN)).outcomes).to.deep.include({ published: 1 });
      expect(h.api.publishes(String(order.id))).to.have.length(1);
    });
  });
}
