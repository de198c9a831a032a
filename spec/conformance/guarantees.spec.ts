import { expect } from 'chai';
import { PublishContext, SyncMachine } from '../../lib';
import { KeySpace } from '../../lib/redis/keys';
import { pickAdapter } from '../../lib/runtime/pick-adapter';
import Redis from 'ioredis';
import { FAST_WORKER, Harness } from '../support/harness';
import { ShopOrder, WORLDS } from '../support/orms';
import type { OrderPayload } from '../support/order-sync';
import { ApiClient } from '../support/partner-api';
import { REDIS_URL } from '../support/redis';

const DRAIN = { timeoutMs: 20_000 };

/**
 * SPEC §2's guarantees, each against real Redis, a real database and a real HTTP API, for every ORM on every
 * database: the same test, through the same machine, must pass for each adapter.
 */
for (const world of WORLDS) {
  describe(`pipeline guarantees on ${world.orm} + ${world.kind}`, () => {
    let h: Harness;
    let redis: Redis;

    beforeEach(async () => {
      h = await new Harness(world, 'guarantees').setUp();
      redis = new Redis(REDIS_URL);
    });

    afterEach(async () => {
      redis.disconnect();
      await h.tearDown();
    });

    const machine = () => new h.shop.OrderToApiSync(new ApiClient(''));
    const currentPayload = async (id: number) => machine().build(await h.w.findOrder(id));

    it('converges: once drained, the API holds build(current data) for every order', async () => {
      const sync = await h.startWorker();
      const customers = await Promise.all([h.customer('Ann', 'A'), h.customer('Bob', 'B'), h.customer('Cy', 'C')]);
      const orders: ShopOrder[] = [];
      for (let i = 0; i < 12; i++) orders.push(await h.order(customers[i % 3]));
      // Four writers interleave order and customer writes while the worker runs.
      await Promise.all([0, 1, 2, 3].map(async (w) => {
        for (let i = 0; i < 25; i++) {
          const order = orders[(w * 7 + i * 5) % orders.length];
          if (i % 5 === 4) {
            const customer = customers[(w + i) % 3];
            customer.firstName = `${customer.firstName.split('-')[0]}-${w}${i}`;
            await h.w.updateCustomer(customer.id, { firstName: customer.firstName });
          } else {
            await h.update(order, { status: ['purchased', 'shipped', 'received'][(w + i) % 3], version: w * 100 + i });
          }
        }
      }));
      await sync.drain(DRAIN);
      for (const order of orders) {
        expect(h.api.documents.get(String(order.id)), `order ${order.id}`).to.deep.equal(await currentPayload(order.id));
      }
      expect(h.logger.errors()).to.deep.equal([]);
    });

    it('a change committed while a publish is in flight causes one more run', async () => {
      const sync = await h.startWorker();
      const order = await h.order(await h.customer());
      await sync.drain(DRAIN);
      h.api.delayMs = 300;
      await h.update(order, { status: 'shipped', version: 1 });
      while (h.api.maxInFlightPerId === 0 || h.api.publishes().length > 1) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 50)); // the PUT of version 1 is now in flight
      await h.update(order, { status: 'received', version: 2 });
      await sync.drain(DRAIN);
      expect(h.api.publishes(String(order.id)).map((r) => r.body!.version)).to.deep.equal([0, 1, 2]);
    });

    it('never sends an older payload after a newer one, with two workers racing', async () => {
      const workers = [await h.startWorker(), await h.startWorker()];
      h.api.delayMs = 5;
      const customer = await h.customer();
      const orders = await Promise.all([1, 2, 3].map(() => h.order(customer)));
      let version = 0;
      await Promise.all(orders.map(async (order) => {
        for (let i = 0; i < 15; i++) {
          await h.update(order, { version: ++version, status: i % 2 ? 'shipped' : 'purchased' });
          if (i % 4 === 0) await new Promise((r) => setTimeout(r, 10));
        }
      }));
      await workers[0].drain(DRAIN);
      for (const order of orders) {
        const versions = h.api.publishes(String(order.id)).map((r) => r.body!.version as number);
        expect(versions.length, `publishes of ${order.id}`).to.be.greaterThan(1);
        expect(versions, `versions sent for order ${order.id}`).to.deep.equal([...versions].sort((a, b) => a - b));
        expect(h.api.documents.get(String(order.id))).to.deep.equal(await currentPayload(order.id));
      }
    });

    it('holds one publish in flight per subject across two worker runtimes with separate connections', async () => {
      const second = await h.w.connect(); // its own connection pool, as another process would have
      const counts = [0, 0];
      let bPublished!: () => void;
      const bFirst = new Promise<void>((resolve) => { bPublished = resolve; });
      let held: Promise<unknown> | undefined;
      // One subject per run, so that both workers get runs and contend for the same subjects' locks.
      @SyncMachine({ subject: h.shop.Order, name: 'OrderToApiSync', batchSize: 1 })
      class OneAtATime extends h.shop.OrderToApiSync {}
      const counting = (i: number) => {
        const m = new OneAtATime(new ApiClient(h.api.url));
        const publish = m.publish.bind(m);
        m.publish = async (order, payload) => {
          counts[i] += 1;
          // A holds its subjects' locks until B has published too (5 s at most, once), so B gets runs however the
          // machine is loaded: A captures the writes and wakes its own runs first, and may take a subject of each.
          if (i === 0) await (held ??= Promise.race([bFirst, new Promise((r) => setTimeout(r, 5_000))]));
          else bPublished();
          await publish(order, payload);
        };
        return m;
      };
      // A publishes one at a time, but runs 4 batches of 1 (concurrency / batchSize + 3): with 8 orders, some are
      // free for B while A holds its 4.
      const a = await h.startWorker({ machines: [counting(0)], worker: { ...FAST_WORKER, concurrency: 1 } });
      await h.startWorker({ orm: second, machines: [counting(1)] });
      h.api.delayMs = 25;
      const customer = await h.customer();
      const orders = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(() => h.order(customer)));
      for (let round = 1; round <= 6; round++) {
        await Promise.all(orders.map((o) => h.update(o, { version: round })));
        await new Promise((r) => setTimeout(r, 15));
      }
      await a.drain(DRAIN);
      expect(h.api.maxInFlightPerId).to.equal(1);
      expect(counts[0], 'publishes by worker A').to.be.greaterThan(0);
      expect(counts[1], 'publishes by worker B').to.be.greaterThan(0);
      for (const order of orders) expect(h.api.documents.get(String(order.id))!.version).to.equal(6);
    });

    it('coalesces: hundreds of writes while no worker runs end in one job and one publish per subject', async () => {
      const capture = await h.start();
      const customer = await h.customer();
      const order = await h.order(customer);
      for (let i = 1; i <= 200; i++) await h.update(order, { version: i, warehouseCode: `W${i}` });
      for (let i = 1; i <= 100; i++) {
        customer.lastName = `Yang${i}`;
        await h.w.updateCustomer(customer.id, { lastName: customer.lastName });
      }
      await capture.drain({ timeoutMs: 1 }).catch(() => undefined);
      expect(await redis.llen(h.queueKey('ensure-publication', 'waiting'))).to.equal(1);
      expect(await redis.llen(h.queueKey('find-subjects', 'waiting'))).to.equal(1);
      const worker = await h.startWorker();
      await worker.drain(DRAIN);
      expect(h.api.publishes(String(order.id)).map((r) => r.body)).to.deep.equal([await currentPayload(order.id)]);
      const stats = await redis.hgetall(new KeySpace(h.prefix).stats('OrderToApiSync'));
      expect(stats['find-subjects:mapped']).to.equal('1');
      expect(stats['ensure-publication:published']).to.equal('1');
      // The customer's lookup may add one more run for the order, which then finds nothing new.
      expect(Number(stats['ensure-publication:unchanged'] ?? 0) + Number(stats['ensure-publication:superseded'] ?? 0))
        .to.be.at.most(1);
    });

    it('a burst over many orders publishes once per order whose final payload differs', async () => {
      const worker = await h.startWorker();
      const customer = await h.customer();
      const orders: ShopOrder[] = [];
      for (let i = 0; i < 40; i++) orders.push(await h.order(customer));
      await worker.drain(DRAIN);
      const before = h.api.publishes().length;
      await worker.close(); // the burst lands while no worker runs, as in a migration
      const capture = await h.start();
      await h.w.transaction(async (tx) => {
        for (let round = 0; round < 10; round++) {
          for (const [i, order] of orders.entries()) {
            order.warehouseCode = `W${round}`;
            // Orders 0..14 end shipped; the others flip and end where they started.
            order.status = round === 9 ? (i < 15 ? 'shipped' : 'purchased') : (round % 2 ? 'shipped' : 'purchased');
            await tx.updateOrder(order.id, { warehouseCode: order.warehouseCode, status: order.status });
          }
        }
      });
      const after = await h.startWorker();
      await after.drain(DRAIN);
      await capture.close();
      expect(h.api.publishes().length - before).to.equal(15);
    });

    it('a rolled-back transaction enqueues nothing and publishes nothing', async () => {
      const worker = await h.startWorker();
      const order = await h.order(await h.customer());
      await worker.drain(DRAIN);
      const before = h.api.received.length;
      await h.w.transaction(async (tx) => {
        await tx.updateOrder(order.id, { status: 'shipped' });
        throw new Error('rollback');
      }).catch(() => undefined);
      await worker.drain(DRAIN);
      expect(h.api.received.length).to.equal(before);
      expect(await redis.hget(new KeySpace(h.prefix).stats('OrderToApiSync'), 'ensure-publication:published')).to.equal('1');
    });

    it('applies the field filter: irrelevant columns enqueue nothing, relevant ones publish', async () => {
      const worker = await h.startWorker();
      const customer = await h.customer();
      const order = await h.order(customer);
      await worker.drain(DRAIN);
      const statsBefore = await redis.hgetall(new KeySpace(h.prefix).stats('OrderToApiSync'));
      await h.w.updateCustomer(customer.id, { email: 'jane@example.com' });
      await worker.drain(DRAIN);
      expect(await redis.hgetall(new KeySpace(h.prefix).stats('OrderToApiSync'))).to.deep.equal(statsBefore);
      await h.w.updateCustomer(customer.id, { lastName: 'Young' });
      await worker.drain(DRAIN);
      expect(h.api.documents.get(String(order.id))!.customer_full_name).to.equal('Jane Young');
      expect(h.api.publishes().length).to.equal(2);
    });

    it('an unchanged payload is not sent again (warehouse_code is not in the payload)', async () => {
      const worker = await h.startWorker();
      const order = await h.order(await h.customer());
      await worker.drain(DRAIN);
      const unchanged = async () => Number(await redis.hget(new KeySpace(h.prefix).stats('OrderToApiSync'), 'ensure-publication:unchanged'));
      const before = await unchanged();
      await h.update(order, { warehouseCode: 'W9' });
      await worker.drain(DRAIN);
      expect(h.api.publishes().length).to.equal(1);
      expect(await unchanged()).to.equal(before + 1);
    });

    it('unpublishes a removed subject and one that stops being publishable, and forgets its payload', async () => {
      const worker = await h.startWorker();
      const customer = await h.customer();
      const [gone, draft, neverPublished] = [await h.order(customer), await h.order(customer), await h.order(customer, { status: 'draft' })];
      await worker.drain(DRAIN);
      // What is stored of each subject: a payload's digest, or '' for the row an unpublish keeps (its version only).
      const stored = async () => (await h.w.sql('SELECT subject_id, body, digest FROM sync_machine_payloads ORDER BY subject_id'))
        .map((r) => [String(r.subject_id), r.body === '' ? '' : 'body', r.digest === '' ? '' : 'digest']);
      expect(await stored()).to.deep.equal([[String(gone.id), 'body', 'digest'], [String(draft.id), 'body', 'digest']]);

      await h.w.removeOrder(gone.id);
      await h.update(draft, { status: 'draft' });
      await h.update(neverPublished, { warehouseCode: 'W7' });
      await worker.drain(DRAIN);
      expect(h.api.deletes().map((r) => r.id).sort()).to.deep.equal([String(gone.id), String(draft.id)].sort());
      expect(await stored()).to.deep.equal([[String(gone.id), '', ''], [String(draft.id), '', '']]);
      expect(h.api.documents.size).to.equal(0);
      for (const order of [gone, draft]) {
        expect((await worker.subjectStatus(h.shop.OrderToApiSync, order.id)).published, `Order ${order.id}`).to.equal(undefined);
      }

      // Their rows are not publishes: a full resync unpublishes nothing again, and nothing differs.
      await worker.resync(h.shop.OrderToApiSync);
      const { outcomes } = await worker.drain(DRAIN);
      expect(outcomes.unpublished ?? 0).to.equal(0);
      expect(h.api.deletes()).to.have.length(2);
      const report = await worker.reconcile(h.shop.OrderToApiSync);
      expect(report.unpublishable.map((u) => [u.subjectId, u.reason, u.wouldUnpublish]).sort()).to.deep.equal(
        [[String(draft.id), 'not_publishable', false], [String(neverPublished.id), 'not_publishable', false]].sort());
      expect([report.checked, report.differing]).to.deep.equal([2, []]);
    });

    it("versions go on across an unpublish, which gets its own: a subject published again does not start at 1 (SPEC §6.2 'monotonic')", async () => {
      const calls: Array<[string, number]> = [];
      @SyncMachine({ subject: h.shop.Order, name: 'OrderToApiSync' })
      class Versioned extends h.shop.OrderToApiSync {
        override async publish(order: ShopOrder, payload: OrderPayload, ctx?: PublishContext) {
          calls.push([`put ${payload.order_status}`, ctx!.version]);
          await super.publish(order, payload);
        }
        override async unpublish(subjectId: string, _previous?: unknown, ctx?: PublishContext) {
          calls.push(['delete', ctx!.version]);
          await super.unpublish(subjectId);
        }
      }
      const worker = await h.startWorker({ machines: [new Versioned(new ApiClient(h.api.url))] });
      const order = await h.order(await h.customer());
      await worker.drain(DRAIN);
      for (const status of ['shipped', 'draft', 'shipped', 'draft', 'received']) {
        await h.update(order, { status });
        await worker.drain(DRAIN);
      }
      // Before, the second "shipped" went out as version 1, below the 2 a partner that orders calls by version kept.
      // An unpublish gets its own version too: with the last publish's, a partner that refuses what is not above the
      // version it holds refused every DELETE, and one that takes what is not below let a late PUT revive (a trial).
      expect(calls).to.deep.equal([
        ['put purchased', 1], ['put shipped', 2], ['delete', 3], ['put shipped', 4], ['delete', 5], ['put received', 6],
      ]);
      expect((await worker.subjectStatus(Versioned, order.id)).published?.version).to.equal(6);
    });

    it('retries a failed publish with backoff, then stores; a publish that keeps failing stores nothing and stays failed', async () => {
      const worker = await h.startWorker({ worker: { concurrency: 5, retry: { attempts: 3, initialDelayMs: 20 } } });
      const customer = await h.customer();
      h.api.failNext = 2;
      const flaky = await h.order(customer);
      await worker.drain(DRAIN);
      expect(h.api.publishes(String(flaky.id)).length).to.equal(1);
      const [row] = await h.w.sql(`SELECT digest FROM sync_machine_payloads WHERE subject_id = '${flaky.id}'`);
      expect(row.digest).to.match(/^[0-9a-f]{64}$/);

      h.api.failNext = 3;
      const doomed = await h.order(customer);
      await worker.drain(DRAIN);
      expect(await h.w.sql(`SELECT * FROM sync_machine_payloads WHERE subject_id = '${doomed.id}'`)).to.deep.equal([]);
      const [status] = await worker.status();
      expect(status.queues['ensure-publication'].failed).to.equal(1);
      expect(status.failures.map(({ step, entity, id, attempts }) => ({ step, entity, id, attempts })))
        .to.deep.equal([{ step: 'ensure-publication', entity: 'Order', id: String(doomed.id), attempts: 3 }]);
      expect(status.failures[0].error).to.match(/OrderToApiSync\.publish threw for Order \d+: partner API answered 503/);
      expect(h.logger.errors().filter((e) => e.includes('no retries left'))).to.have.length(1);
      expect(h.logger.errors()[0]).to.match(/OrderToApiSync\.publish threw for Order \d+: partner API answered 503/);

      // The failure record does not block the subject: the next change publishes current data and clears it.
      await h.update(doomed, { status: 'shipped' });
      await worker.drain(DRAIN);
      expect(h.api.documents.get(String(doomed.id))).to.deep.equal(await currentPayload(doomed.id));
      expect((await worker.status())[0].queues['ensure-publication'].failed).to.equal(0);
    });

    it('resync publishes what is missing, skips what is unchanged, and force re-sends', async () => {
      const capture = await h.start();
      const worker = await h.startWorker();
      const customer = await h.customer();
      const orders = [await h.order(customer), await h.order(customer), await h.order(customer)];
      await worker.drain(DRAIN);
      await h.w.sql(`UPDATE orders SET status = 'shipped'`); // raw SQL: nothing captured
      await worker.drain(DRAIN);
      expect(h.api.documents.get(String(orders[0].id))!.order_status).to.equal('purchased');

      const progress: number[] = [];
      expect(await capture.resync(h.shop.OrderToApiSync, { batchSize: 2, onProgress: (n) => progress.push(n) })).to.deep.equal({ enqueued: 3 });
      await worker.drain(DRAIN);
      expect(progress).to.deep.equal([2, 3]);
      expect([...h.api.documents.values()].map((d) => d.order_status)).to.deep.equal(['shipped', 'shipped', 'shipped']);
      const sent = h.api.publishes().length;

      await capture.resync(h.shop.OrderToApiSync);
      await worker.drain(DRAIN);
      expect(h.api.publishes().length).to.equal(sent);

      await capture.resync('OrderToApiSync', { ids: [orders[1].id], force: true });
      await worker.drain(DRAIN);
      expect(h.api.publishes().length).to.equal(sent + 1);
      expect(h.api.publishes().at(-1)!.id).to.equal(String(orders[1].id));
    });

    it('resync unpublishes subjects whose rows were removed where no capture saw it (raw SQL, a cascade)', async () => {
      const worker = await h.startWorker();
      const customer = await h.customer();
      const other = await h.customer('Ann', 'Lee');
      const [kept, deleted, cascaded] = [await h.order(customer), await h.order(customer), await h.order(other)];
      await worker.drain(DRAIN);
      // Raw SQL, nothing captured: one order deleted, and a customer whose removal the database cascades to hers.
      await h.w.sql(`DELETE FROM orders WHERE id = ${deleted.id}`);
      await h.w.sql(`DELETE FROM customers WHERE id = ${other.id}`);
      expect(await h.w.sql(`SELECT id FROM orders WHERE id = ${cascaded.id}`), 'the cascade').to.deep.equal([]);
      await worker.drain(DRAIN);
      expect(h.api.deletes()).to.deep.equal([]);
      // The database finds the stored subjects without a row itself, paged in subject id order.
      const adapter = pickAdapter(h.w.handle, h.logger);
      const storedWithoutRow = adapter.storedWithoutRow!(h.shop.Order, 'OrderToApiSync')!;
      const goneIds = [String(deleted.id), String(cascaded.id)].sort();
      expect(await storedWithoutRow(undefined, 10)).to.deep.equal(goneIds);
      expect(await storedWithoutRow(undefined, 1)).to.deep.equal([goneIds[0]]);
      expect(await storedWithoutRow(goneIds[0], 1)).to.deep.equal([goneIds[1]]);
      expect(await storedWithoutRow(goneIds[1], 1)).to.deep.equal([]);
      expect(await adapter.storedWithoutRow!(h.shop.Order, 'NoSuchMachine')!(undefined, 10)).to.deep.equal([]);

      // reconcile (the dry run) and resync walk the rows, then the stored subjects without one.
      const report = await worker.reconcile(h.shop.OrderToApiSync);
      expect(report.unpublishable.map((u) => [u.subjectId, u.reason, u.wouldUnpublish, (u.stored as { order_status?: string }).order_status]))
        .to.have.deep.members([[String(deleted.id), 'gone', true, 'purchased'], [String(cascaded.id), 'gone', true, 'purchased']]);
      expect([report.checked, report.unchanged, report.limited]).to.deep.equal([3, 1, false]);
      const limited = await worker.reconcile(h.shop.OrderToApiSync, { limit: 2 });
      expect([limited.checked, limited.unpublishable.length, limited.limited]).to.deep.equal([2, 1, true]);
      expect(await worker.resync(h.shop.OrderToApiSync)).to.deep.equal({ enqueued: 3 });
      await worker.drain(DRAIN);
      expect(h.api.deletes().map((r) => r.id).sort()).to.deep.equal([String(deleted.id), String(cascaded.id)].sort());
      expect([...h.api.documents.keys()]).to.deep.equal([String(kept.id)]);
      expect(h.api.publishes()).to.have.length(3);
      // Where the database cannot find them (another database or key type), and the walk's ids are too many to
      // keep in memory, resync asks the adapter which stored subjects have a row.
      expect(await adapter.presentIds!(h.shop.Order, [String(kept.id), String(deleted.id), 'x', '-1'])).to.deep.equal(new Set([String(kept.id)]));
      // Unpublished, they are forgotten: the next resync finds nothing to do.
      expect(await worker.resync(h.shop.OrderToApiSync, { batchSize: 1 })).to.deep.equal({ enqueued: 1 });
      await worker.drain(DRAIN);
      expect(h.api.deletes()).to.have.length(2);
      expect(h.logger.errors()).to.deep.equal([]);
    });

    it('a publish time reads back as stored, within a second: a forced request is met only by a publish read after it', async () => {
      const adapter = pickAdapter(h.w.handle, h.logger);
      const at = new Date(Date.now() - 3_600_000 + 567);
      await adapter.payloads.savePublished('OrderToApiSync', [{ subjectId: '7', body: '{}', digest: 'd', generatedAt: at, version: 1 }]);
      const read = (await adapter.payloads.findMany('OrderToApiSync', ['7'])).get('7')!;
      // MySQL and MariaDB keep whole seconds: ForcedRequests allows a second of slack for it.
      expect(Math.abs(new Date(read.generatedAt).getTime() - at.getTime()), String(read.generatedAt)).to.be.below(1_000);
    });

    it('a stored subject id that no row can have is gone, not a failed query', async () => {
      const worker = await h.startWorker();
      const order = await h.order(await h.customer());
      await worker.drain(DRAIN);
      const adapter = pickAdapter(h.w.handle, h.logger);
      const stored = { body: '{}', digest: 'd', generatedAt: new Date(), version: 1 };
      // Not numbers, past any key (PostgreSQL would refuse to cast them to the key's type), or the row's id
      // written otherwise (SQLite's type affinity would read them as it). Not with a trailing space: MariaDB's
      // collation pads, so that is the row's own stored subject.
      const strays = ['x', '-', '1.5', '99999999999999999999', ` ${order.id}`, `${order.id}.0`];
      await adapter.payloads.savePublished('OrderToApiSync', strays.map((subjectId) => ({ subjectId, ...stored })));
      expect(await adapter.storedWithoutRow!(h.shop.Order, 'OrderToApiSync')!(undefined, 10)).to.have.members(strays);
      expect(await worker.reconcile(h.shop.OrderToApiSync)).to.include({ checked: 1 + strays.length, unchanged: 1 });
      expect(String(order.id)).to.not.be.oneOf(strays);
      expect(h.logger.errors()).to.deep.equal([]);
    });

    it('resync({ where }) goes through the matching subjects only, and reports the total', async () => {
      const worker = await h.startWorker();
      const customer = await h.customer();
      const [first, ...rest] = [await h.order(customer), await h.order(customer), await h.order(customer)];
      await worker.drain(DRAIN);
      await h.w.sql(`UPDATE orders SET status = 'shipped' WHERE id <> ${first.id}`); // raw SQL: nothing captured

      const progress: Array<[number, number | undefined]> = [];
      const result = await worker.resync(h.shop.OrderToApiSync, { where: { status: 'shipped' }, batchSize: 1, onProgress: (n, total) => progress.push([n, total]) });
      await worker.drain(DRAIN);

      expect(result).to.deep.equal({ enqueued: 2 });
      expect(progress).to.deep.equal([[1, 2], [2, 2]]);
      expect(h.api.documents.get(String(first.id))!.order_status).to.equal('purchased');
      for (const order of rest) expect(h.api.documents.get(String(order.id))!.order_status).to.equal('shipped');
      const refused = await worker.resync(h.shop.OrderToApiSync, { where: { nickname: 'x' } }).catch((e: Error) => e.message);
      expect(refused).to.match(/^Order has no column "nickname" to filter on: use one of /);
    });

    it('notifyChanged feeds in writes the ORM never saw', async () => {
      const worker = await h.startWorker();
      const customer = await h.customer();
      const order = await h.order(customer);
      await worker.drain(DRAIN);
      await h.w.sql(`UPDATE customers SET first_name = 'Janet' WHERE id = ${customer.id}`);
      await worker.notifyChanged(h.shop.Customer, customer.id, ['firstName']);
      await worker.drain(DRAIN);
      expect(h.api.documents.get(String(order.id))!.customer_full_name).to.equal('Janet Yang');
      // No machine watches `email`: the call would do nothing, so it says so instead (issue 10).
      await worker.notifyChanged(h.shop.Customer, [customer.id], ['email']).then(
        () => expect.fail('a key no machine watches must be refused'),
        (error: Error) => expect(error.message).to.include('OrderToApiSync watches firstName, lastName'));
      await worker.drain(DRAIN);
      expect(h.api.publishes().length).to.equal(2);
    });
  });
}
