import { expect } from 'chai';
import Redis from 'ioredis';
import { Entity, MikroORM, PrimaryKey, Property, RequestContext } from '@mikro-orm/core';
import type { EntityManager as SqlEntityManager } from '@mikro-orm/knex';
import { Build, ListenTo, Publish, SubjectIdsFrom, SyncMachine, SyncMachines, type Snapshot } from '../../lib';
import { KeySpace } from '../../lib/redis/keys';
import { DATABASES } from '../support/database';
import { MemoryLogger } from '../support/logger';
import { mikroOrmShop } from '../support/orms/mikro-orm';
import { MikroOrmTestDatabase } from '../support/orms/mikro-orm-database';
import { Customer, Order } from '../support/orms/mikro-orm-shop';
import { ApiClient } from '../support/partner-api';
import { queueInspector } from '../support/queue-inspector';
import { deleteKeys, freshPrefix, REDIS_URL } from '../support/redis';

/*
 * Which MikroORM 6.6.16 write paths sync-machine captures, observed without a worker: every request a write
 * makes stays pending in its machine step's work set in Redis (with the run tickets it made), where these tests
 * read it right after the write resolved.
 *
 * OrderToApiSync (spec/support/order-sync.ts) listens to its subject Order (→ EnsurePublication items
 * `<orderId>`) and to Customer with fields firstName/lastName (→ FindSubjects items `Customer:<id>`).
 * CustomerCardSync below listens to Order through a mapper, so that an Order write also shows up as a
 * FindSubjects item whose pending request names the op, changed keys and removal snapshot.
 */

@SyncMachine({ subject: Customer })
@ListenTo(Order)
class CustomerCardSync {
  @SubjectIdsFrom(Order)
  customerOf(order: Order | Snapshot<Order>) { return order.customer.id; } // a removal's snapshot holds { customer: { id } }

  @Build()
  build(customer: Customer) { return { id: String(customer.id), name: customer.fullName }; }

  @Publish()
  publish() { /* never runs: these tests start no worker */ }
}

/** A row with a natural key, for upsert(). */
@Entity({ tableName: 'skus' })
class Sku {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string', unique: true }) code!: string;
  @Property({ type: 'string' }) name!: string;
}

@SyncMachine({ subject: Sku })
@ListenTo(Sku)
class SkuSync {
  @Build()
  build(sku: Sku) { return { code: sku.code, name: sku.name }; }

  @Publish()
  publish() { /* never runs */ }
}

const ORDER_SYNC = 'OrderToApiSync';
const CARD_SYNC = 'CustomerCardSync';
const SKU_SYNC = 'SkuSync';
const ALL_CUSTOMER_KEYS = ['email', 'firstName', 'id', 'lastName'];

for (const kind of DATABASES) {
  describe(`MikroORM write paths (${kind})`, function () {
    this.timeout(10_000);
    const prefix = freshPrefix(`mikro-write-paths-${kind}`);
    let db: MikroOrmTestDatabase;
    let orm: MikroORM;
    let redis: Redis;
    let sync: SyncMachines;
    let logger: MemoryLogger;

    const { waiting, tickets, pending, everythingWaiting } = queueInspector(() => redis, prefix, [ORDER_SYNC, CARD_SYNC, SKU_SYNC]);

    /**
     * Every pending item and every waiting run ticket of every machine's steps: `<machine> <step> <item>`, then
     * `<machine> <step> tickets: <n>` where a step has tickets. Nothing enqueued means neither.
     */
    async function everythingQueued(): Promise<string[]> {
      const all = await everythingWaiting();
      for (const machine of [ORDER_SYNC, CARD_SYNC, SKU_SYNC]) {
        for (const step of ['find-subjects', 'ensure-publication'] as const) {
          const n = await tickets(step, machine);
          if (n > 0) all.push(`${machine} ${step} tickets: ${n}`);
        }
      }
      return all;
    }

    /** Forgets every pending request and ticket, so that the next assertion sees only what follows. */
    async function resetQueues(): Promise<void> {
      await deleteKeys(prefix);
    }

    /** A fork, as a request handler gets one. */
    function em(): SqlEntityManager {
      return orm.em.fork() as SqlEntityManager;
    }

    async function newCustomer(firstName = 'Jane', lastName = 'Yang'): Promise<Customer> {
      const fork = em();
      const customer = fork.create(Customer, { firstName, lastName });
      await fork.flush();
      return customer;
    }

    async function newOrder(customer: Customer): Promise<Order> {
      const fork = em();
      const order = fork.create(Order, { customer: fork.getReference(Customer, customer.id) });
      await fork.flush();
      return order;
    }

    before(async () => {
      db = await MikroOrmTestDatabase.create(kind, [Customer, Order, Sku]);
      orm = await db.connect();
      redis = new Redis(REDIS_URL);
    });

    beforeEach(async () => {
      await resetQueues();
      logger = new MemoryLogger();
      // No `worker`: a capture-only runtime, as in a web process. Requests stay in Redis for us to read.
      sync = await SyncMachines.start({
        orm, redis: REDIS_URL, prefix, logger,
        machines: [new mikroOrmShop.OrderToApiSync(new ApiClient('http://127.0.0.1:9')), new CustomerCardSync(), new SkuSync()],
      });
    });

    afterEach(async () => {
      await sync.close();
    });

    after(async () => {
      redis?.disconnect();
      await db?.destroy();
      await deleteKeys(prefix);
    });

    describe('em.persist() + em.flush()', () => {
      it('captures creates: one pending item per new row, with every column as changed key', async () => {
        const customer = await newCustomer();
        const order = await newOrder(customer);

        expect(await waiting('find-subjects')).to.deep.equal([`Customer:${customer.id}`]);
        expect(await waiting('ensure-publication')).to.deep.equal([String(order.id)]);
        expect(await tickets('ensure-publication')).to.equal(1);
        expect(await tickets('find-subjects')).to.equal(1);
        const publication = await pending('ensure-publication', String(order.id));
        expect([publication.ops, publication.changedKeys, publication.snapshot]).to.deep.equal([[], [], undefined]);
        const data = await pending('find-subjects', `Customer:${customer.id}`);
        expect(data.ops).to.deep.equal(['insert']);
        expect(data.changedKeys).to.deep.equal(ALL_CUSTOMER_KEYS);
        expect(data.snapshot).to.equal(undefined);
      });

      it('captures updates with the changed properties; a subject update enqueues its EnsurePublication', async () => {
        const order = await newOrder(await newCustomer());
        await resetQueues();

        const fork = em();
        (await fork.findOneOrFail(Order, order.id)).status = 'shipped';
        await fork.flush();

        expect(await waiting('ensure-publication')).to.deep.equal([String(order.id)]);
        const card = await pending('find-subjects', `Order:${order.id}`, CARD_SYNC);
        expect(card.ops).to.deep.equal(['update']);
        expect(card.changedKeys).to.deep.equal(['status']);
      });

      it('enqueues nothing for an update that touches only a field outside `fields` (Customer.email)', async () => {
        const customer = await newCustomer();
        await resetQueues();

        const fork = em();
        (await fork.findOneOrFail(Customer, customer.id)).email = 'jane@example.com';
        await fork.flush();

        expect(await everythingQueued()).to.deep.equal([]);
        expect((await em().findOneOrFail(Customer, customer.id)).email).to.equal('jane@example.com');
      });

      it('enqueues FindSubjects for a listed field, merging the keys of later flushes into the same pending request', async () => {
        const customer = await newCustomer();
        await resetQueues();

        const fork = em();
        const loaded = await fork.findOneOrFail(Customer, customer.id);
        loaded.firstName = 'Janet';
        await fork.flush();
        loaded.lastName = 'Young';
        loaded.email = 'janet@example.com';
        await fork.flush();

        expect(await waiting('find-subjects')).to.deep.equal([`Customer:${customer.id}`]);
        const data = await pending('find-subjects', `Customer:${customer.id}`);
        expect(data.ops).to.deep.equal(['update']);
        expect(data.changedKeys).to.deep.equal(['email', 'firstName', 'lastName']);
        expect(await tickets('find-subjects')).to.equal(1); // the later update merged: no second ticket
      });

      it('a flush that changes nothing enqueues nothing', async () => {
        const order = await newOrder(await newCustomer());
        await resetQueues();

        const fork = em();
        (await fork.findOneOrFail(Order, order.id)).status = 'purchased'; // the value it has
        await fork.flush();

        expect(await everythingQueued()).to.deep.equal([]);
      });
    });

    describe('em.flush() without a transaction (implicitTransactions: false)', () => {
      it('captures the flush once it is done: every statement has committed by then', async () => {
        const customer = await newCustomer();
        await resetQueues();
        const plain = await db.connect({ options: { implicitTransactions: false } });
        const other = await SyncMachines.start({ orm: plain, redis: REDIS_URL, prefix, logger, machines: [new CustomerCardSync()] });
        try {
          const fork = plain.em.fork();
          const order = fork.create(Order, { customer: fork.getReference(Customer, customer.id) });
          await fork.flush();

          expect(await waiting('find-subjects', CARD_SYNC)).to.deep.equal([`Order:${order.id}`]);
          expect((await pending('find-subjects', `Order:${order.id}`, CARD_SYNC)).ops).to.deep.equal(['insert']);
        } finally {
          await other.close();
        }
      });
    });

    describe('em.remove() + em.flush()', () => {
      it('captures removing a Customer as op remove, with a snapshot of the row as it was loaded', async () => {
        const customer = await newCustomer('Ann', 'Lee');
        const id = customer.id;
        await resetQueues();

        const fork = em();
        const loaded = await fork.findOneOrFail(Customer, id);
        loaded.firstName = 'Changed before removal'; // not in the database: the snapshot has the loaded row
        fork.remove(loaded);
        await fork.flush();

        expect(await waiting('find-subjects')).to.deep.equal([`Customer:${id}`]);
        const data = await pending('find-subjects', `Customer:${id}`);
        expect(data.ops).to.deep.equal(['remove']);
        expect(data.snapshot).to.deep.equal({ id, firstName: 'Ann', lastName: 'Lee', email: '' });
      });

      it('does not see rows the database deletes by itself (ON DELETE CASCADE): only the removed Customer', async () => {
        const customer = await newCustomer();
        const order = await newOrder(customer);
        const id = customer.id;
        await resetQueues();

        const fork = em();
        fork.remove(await fork.findOneOrFail(Customer, id));
        await fork.flush();

        expect(await em().findOne(Order, order.id)).to.equal(null); // the database removed it
        expect(await everythingQueued())
          .to.deep.equal([`${ORDER_SYNC} find-subjects Customer:${id}`, `${ORDER_SYNC} find-subjects tickets: 1`]);
        expect((await pending('find-subjects', `Customer:${id}`)).snapshot).not.to.have.property('orderIds');
      });

      it('captures removing an Order as op remove; its snapshot names the customer as { id } (Snapshot<Order>)', async () => {
        const customer = await newCustomer();
        const order = await newOrder(customer);
        await resetQueues();

        const fork = em();
        fork.remove(await fork.findOneOrFail(Order, order.id));
        await fork.flush();

        expect(await waiting('ensure-publication')).to.deep.equal([String(order.id)]);
        const card = await pending('find-subjects', `Order:${order.id}`, CARD_SYNC);
        expect(card.ops).to.deep.equal(['remove']);
        expect(card.snapshot).to.deep.equal(
          { id: order.id, customer: { id: customer.id }, status: 'purchased', warehouseCode: 'W1', version: 0 });
      });

      it('captures removing a reference that was never loaded, with the row read before its delete', async () => {
        const customer = await newCustomer();
        const order = await newOrder(customer);
        await resetQueues();

        const fork = em();
        fork.remove(fork.getReference(Order, order.id));
        await fork.flush();

        expect(await waiting('ensure-publication')).to.deep.equal([String(order.id)]);
        const card = await pending('find-subjects', `Order:${order.id}`, CARD_SYNC);
        // Before, only its key: a mapper of its relation (order.customer.id) failed on every attempt (a trial).
        expect(card.snapshot).to.deep.equal(
          { id: order.id, customer: { id: customer.id }, status: 'purchased', warehouseCode: 'W1', version: 0 });
      });
    });

    describe('em.upsert()', () => {
      it('captures a new row under its id', async () => {
        const sku = await em().upsert(Sku, { code: `new-${kind}`, name: 'New' });

        expect(await waiting('ensure-publication', SKU_SYNC)).to.deep.equal([String(sku.id)]);
      });

      it('reports an upsert as an update of every column: MikroORM does not say whether it inserted', async () => {
        const customer = await newCustomer();
        const order = await newOrder(customer);
        await resetQueues();

        await em().upsert(Order, { id: order.id, customer: customer.id, status: 'upserted', warehouseCode: 'W1', version: 0 });

        const card = await pending('find-subjects', `Order:${order.id}`, CARD_SYNC);
        expect(card.ops).to.deep.equal(['update']);
        expect(card.changedKeys).to.deep.equal(['customer', 'id', 'status', 'version', 'warehouseCode']);
        expect(await waiting('ensure-publication')).to.deep.equal([String(order.id)]);
      });

      it('captures a conflicting upsert under the id of the row it updated', async () => {
        const fork = em();
        const [a, b] = [fork.create(Sku, { code: `a-${kind}`, name: 'A' }), fork.create(Sku, { code: `b-${kind}`, name: 'B' })];
        await fork.flush();
        await resetQueues();

        const upserted = await em().upsert(Sku, { code: a.code, name: 'A2' });

        expect(upserted.id).to.equal(a.id);
        expect((await em().findOneOrFail(Sku, a.id)).name).to.equal('A2');
        expect(await waiting('ensure-publication', SKU_SYNC)).to.deep.equal([String(a.id)]);
        expect(b.id).not.to.equal(a.id);
      });

      it('em.upsertMany(): each row under its id', async () => {
        const skus = await em().upsertMany(Sku, [{ code: `m1-${kind}`, name: 'M1' }, { code: `m2-${kind}`, name: 'M2' }]);

        expect((await waiting('ensure-publication', SKU_SYNC)).sort()).to.deep.equal(skus.map((s) => String(s.id)).sort());
        expect(skus).to.have.length(2);
      });

      it('inside em.transactional(): enqueued at the commit', async () => {
        let inside: string[] = [];
        const sku = await em().transactional(async (tx) => {
          const row = await tx.upsert(Sku, { code: `tx-${kind}`, name: 'Tx' });
          inside = await everythingQueued();
          return row;
        });

        expect(inside).to.deep.equal([]);
        expect(await waiting('ensure-publication', SKU_SYNC)).to.deep.equal([String(sku.id)]);
      });
    });

    describe('transactions', () => {
      it('em.transactional(): nothing enqueued before the commit, everything after it', async () => {
        const customer = await newCustomer();
        await resetQueues();
        let insideTransaction: string[] | undefined;
        let orderId = 0;

        await em().transactional(async (tx) => {
          const order = tx.create(Order, { customer: tx.getReference(Customer, customer.id) });
          await tx.flush();
          orderId = order.id;
          (await tx.findOneOrFail(Customer, customer.id)).firstName = 'Tx';
          await tx.flush();
          insideTransaction = await everythingQueued();
        });

        expect(insideTransaction).to.deep.equal([]);
        expect(await waiting('ensure-publication')).to.deep.equal([String(orderId)]);
        expect(await waiting('find-subjects')).to.deep.equal([`Customer:${customer.id}`]);
        expect((await pending('find-subjects', `Customer:${customer.id}`)).changedKeys).to.deep.equal(['firstName']);
      });

      it('em.transactional() that rolls back enqueues nothing, though its flushes ran', async () => {
        const customer = await newCustomer();
        await resetQueues();
        let orderId = 0;

        const failed = await em().transactional(async (tx) => {
          const order = tx.create(Order, { customer: tx.getReference(Customer, customer.id) });
          await tx.flush();
          orderId = order.id;
          (await tx.findOneOrFail(Customer, customer.id)).firstName = 'Never';
          await tx.flush();
          throw new Error('changed my mind');
        }).catch((error: Error) => error.message);

        expect(failed).to.equal('changed my mind');
        expect(await em().findOne(Order, orderId)).to.equal(null);
        expect(await everythingQueued()).to.deep.equal([]);
      });

      it('em.begin() / em.commit() and em.rollback(): captured at the commit, nothing on rollback', async () => {
        const customer = await newCustomer();
        await resetQueues();

        const fork = em();
        await fork.begin();
        (await fork.findOneOrFail(Customer, customer.id)).lastName = 'Begun';
        await fork.flush();
        expect(await everythingQueued()).to.deep.equal([]);
        await fork.commit();
        expect(await waiting('find-subjects')).to.deep.equal([`Customer:${customer.id}`]);

        await resetQueues();
        const other = em();
        await other.begin();
        (await other.findOneOrFail(Customer, customer.id)).lastName = 'Rolled back';
        await other.flush();
        await other.rollback();
        expect(await everythingQueued()).to.deep.equal([]);
      });

      it('keeps only the outer changes when a nested transaction (savepoint) rolls back', async () => {
        const customer = await newCustomer();
        const kept = await newOrder(customer);
        const dropped = await newOrder(customer);
        await resetQueues();

        await em().transactional(async (tx) => {
          (await tx.findOneOrFail(Order, kept.id)).status = 'outer';
          await tx.flush();
          await tx.transactional(async (inner) => {
            (await inner.findOneOrFail(Order, dropped.id)).status = 'inner';
            (await inner.findOneOrFail(Customer, customer.id)).firstName = 'Inner';
            await inner.flush();
            throw new Error('back to the savepoint');
          }).catch(() => undefined);
          expect(await everythingQueued()).to.deep.equal([]);
        });

        expect(await waiting('ensure-publication')).to.deep.equal([String(kept.id)]);
        expect(await waiting('find-subjects')).to.deep.equal([]);
        expect(await waiting('find-subjects', CARD_SYNC)).to.deep.equal([`Order:${kept.id}`]);
        expect((await em().findOneOrFail(Order, dropped.id)).status).to.equal('purchased');
      });

      it('merges a nested transaction that commits into the outer one, and sends it at the outer commit', async () => {
        const order = await newOrder(await newCustomer());
        await resetQueues();

        await em().transactional(async (tx) => {
          await tx.transactional(async (inner) => {
            (await inner.findOneOrFail(Order, order.id)).status = 'inner';
          });
          expect(await everythingQueued()).to.deep.equal([]);
        });

        expect(await waiting('ensure-publication')).to.deep.equal([String(order.id)]);
        expect((await pending('find-subjects', `Order:${order.id}`, CARD_SYNC)).changedKeys).to.deep.equal(['status']);
      });

      it('makes ONE pending item (one ticket) of many flushes of one row in one transaction, with the keys united', async () => {
        const customer = await newCustomer();
        const order = await newOrder(customer);
        await resetQueues();

        await em().transactional(async (tx) => {
          const loaded = await tx.findOneOrFail(Order, order.id);
          for (let version = 1; version <= 5; version++) {
            loaded.version = version;
            await tx.flush();
          }
          const c = await tx.findOneOrFail(Customer, customer.id);
          c.firstName = 'One';
          await tx.flush();
          c.lastName = 'Two';
          await tx.flush();
          c.email = 'x@example.com';
          await tx.flush();
        });

        expect(await waiting('ensure-publication')).to.deep.equal([String(order.id)]);
        expect(await waiting('find-subjects')).to.deep.equal([`Customer:${customer.id}`]);
        expect(await waiting('find-subjects', CARD_SYNC)).to.deep.equal([`Order:${order.id}`]);
        const data = await pending('find-subjects', `Customer:${customer.id}`);
        expect(data.ops).to.deep.equal(['update']);
        expect(data.changedKeys).to.deep.equal(['email', 'firstName', 'lastName']);
        expect(await tickets('ensure-publication')).to.equal(1);
        expect(await tickets('find-subjects')).to.equal(1);
        expect(await tickets('find-subjects', CARD_SYNC)).to.equal(1);
      });
    });

    describe('forks and request contexts', () => {
      it('captures flushes of the global EntityManager inside RequestContext.create()', async () => {
        const customer = await newCustomer();
        await resetQueues();

        await RequestContext.create(orm.em, async () => {
          // orm.em resolves to this request's own fork here.
          (await orm.em.findOneOrFail(Customer, customer.id)).lastName = 'In a request';
          await orm.em.flush();
        });

        expect(await waiting('find-subjects')).to.deep.equal([`Customer:${customer.id}`]);
      });

      it('captures two forks that flush at the same time, each with its own changes', async () => {
        const customer = await newCustomer();
        const [a, b] = [await newOrder(customer), await newOrder(customer)];
        await resetQueues();

        await Promise.all([[a, 'shipped'], [b, 'received']].map(async ([order, status]) => {
          const fork = em();
          (await fork.findOneOrFail(Order, (order as Order).id)).status = status as string;
          await fork.flush();
        }));

        expect((await waiting('ensure-publication')).sort()).to.deep.equal([String(a.id), String(b.id)].sort());
      });

      it('an EntityManager with a cloned event manager sees what was subscribed when it was cloned', async () => {
        const customer = await newCustomer();
        await sync.close();
        const before = orm.em.fork({ cloneEventManager: true }); // cloned with no sync-machine subscriber in it
        sync = await SyncMachines.start({ orm, redis: REDIS_URL, prefix, logger, machines: [new CustomerCardSync()] });
        const after = orm.em.fork({ cloneEventManager: true });
        await resetQueues();

        const ids: number[] = [];
        for (const fork of [before, after]) {
          const order = fork.create(Order, { customer: fork.getReference(Customer, customer.id) });
          await fork.flush();
          ids.push(order.id);
        }

        expect(await waiting('find-subjects', CARD_SYNC)).to.deep.equal([`Order:${ids[1]}`]);
      });

      it('does not see a fork made with freshEventManager: true (it has no subscribers at all)', async () => {
        const customer = await newCustomer();
        await resetQueues();

        const fork = orm.em.fork({ freshEventManager: true });
        (await fork.findOneOrFail(Customer, customer.id)).lastName = 'Unseen';
        await fork.flush();

        expect(await everythingQueued()).to.deep.equal([]);
      });
    });

    describe('writes MikroORM reports nothing about: not captured, notifyChanged() instead', () => {
      it('em.insert() and em.insertMany(): nothing enqueued', async () => {
        const customer = await newCustomer();
        await resetQueues();

        const id = await em().insert(Customer, { firstName: 'Ins', lastName: 'Erted' });
        await em().insertMany(Order, [{ customer: customer.id }, { customer: customer.id }]);

        expect(await em().findOneOrFail(Customer, id)).to.include({ firstName: 'Ins' });
        expect(await everythingQueued()).to.deep.equal([]);
      });

      it('em.nativeUpdate(): nothing enqueued; notifyChanged enqueues', async () => {
        const customer = await newCustomer();
        await resetQueues();

        await em().nativeUpdate(Customer, { id: customer.id }, { firstName: 'Bulk' });

        expect((await em().findOneOrFail(Customer, customer.id)).firstName).to.equal('Bulk');
        expect(await everythingQueued()).to.deep.equal([]);

        await sync.notifyChanged(Customer, customer.id, ['firstName']);
        expect(await waiting('find-subjects')).to.deep.equal([`Customer:${customer.id}`]);
        const data = await pending('find-subjects', `Customer:${customer.id}`);
        expect(data.ops).to.deep.equal(['update']);
        expect(data.changedKeys).to.deep.equal(['firstName']);
      });

      it('em.nativeDelete(): nothing enqueued', async () => {
        const customer = await newCustomer();
        await resetQueues();

        await em().nativeDelete(Customer, { id: customer.id });

        expect(await em().count(Customer, { id: customer.id })).to.equal(0);
        expect(await everythingQueued()).to.deep.equal([]);
      });

      it('QueryBuilder update and delete: nothing enqueued', async () => {
        const [a, b] = [await newOrder(await newCustomer()), await newOrder(await newCustomer())];
        await resetQueues();

        await em().createQueryBuilder(Order).update({ status: 'qb' }).where({ id: a.id }).execute();
        await em().createQueryBuilder(Order).delete().where({ id: b.id }).execute();

        expect((await em().findOneOrFail(Order, a.id)).status).to.equal('qb');
        expect(await everythingQueued()).to.deep.equal([]);

        await sync.notifyChanged(Order, a.id);
        expect(await waiting('ensure-publication')).to.deep.equal([String(a.id)]);
      });

      it('raw SQL (connection.execute UPDATE): nothing enqueued and nothing logged', async () => {
        const customer = await newCustomer();
        await resetQueues();

        await em().getConnection().execute(`UPDATE customers SET first_name = 'Raw' WHERE id = ${Number(customer.id)}`);

        expect((await em().findOneOrFail(Customer, customer.id)).firstName).to.equal('Raw');
        expect(await everythingQueued()).to.deep.equal([]);
        expect(logger.lines).to.deep.equal([]);
      });
    });

    describe('guarantees of the capture itself', () => {
      it('resolves the write call only after its request and ticket are in Redis', async () => {
        const customer = await newCustomer();
        await resetQueues();

        const order = await newOrder(customer);
        // No drain, no wait: read Redis right away.
        expect(await waiting('ensure-publication')).to.deep.equal([String(order.id)]);
        expect(await tickets('ensure-publication')).to.equal(1);

        await em().transactional(async (tx) => { (await tx.findOneOrFail(Order, order.id)).status = 'shipped'; });
        expect(await waiting('find-subjects', CARD_SYNC)).to.deep.equal([`Order:${order.id}`]);
        const card = await pending('find-subjects', `Order:${order.id}`, CARD_SYNC);
        expect(card.ops).to.deep.equal(['insert', 'update']); // the update merged into the insert still pending
        expect(card.changedKeys).to.include('status');
      });

      it('never fails the write when the enqueue fails; names each dropped change', async () => {
        const customer = await newCustomer();
        const order = await newOrder(customer);
        await resetQueues();
        // A real Redis error for every enqueue of OrderToApiSync's subject: its pending set is now a string.
        const pendingKey = new KeySpace(prefix).step(ORDER_SYNC, 'ensure-publication').pending;
        await redis.set(pendingKey, 'not a sorted set');

        const saved = await newOrder(customer);
        const fork = em();
        (await fork.findOneOrFail(Order, order.id)).status = 'shipped';
        await fork.flush();

        expect(await em().count(Order, { id: saved.id })).to.equal(1);
        expect((await em().findOneOrFail(Order, order.id)).status).to.equal('shipped');
        // Said together, a second after the first (one line per commit flooded the log while Redis refused).
        while (logger.errors().length === 0) await new Promise((r) => setTimeout(r, 20));
        const errors = logger.errors();
        expect(errors).to.have.length(1);
        expect(errors[0]).to.match(/^Could not enqueue 2 committed change\(s\) of 2 commits \(.*WRONGTYPE/)
          .and.include(`dropped: insert Order ${saved.id}, update Order ${order.id}. `);
        // The script stopped at its first command on that key: no ticket, and the key is as the test left it.
        expect(await tickets('ensure-publication')).to.equal(0);
        expect(await redis.get(pendingKey)).to.equal('not a sorted set');
      });

      it('after sync.close(), writes still succeed and are no longer captured, in open transactions too', async () => {
        const customer = await newCustomer();
        await resetQueues();
        let order: Order | undefined;
        // A transaction that began before close(): its EntityManager cloned the event manager, subscriber included.
        await em().transactional(async (tx) => {
          await sync.close();
          order = tx.create(Order, { customer: tx.getReference(Customer, customer.id) });
        });

        await newOrder(customer);

        expect(await em().count(Order, { id: order!.id })).to.equal(1);
        expect(await everythingQueued()).to.deep.equal([]);
        expect(orm.em.getEventManager().getSubscribers().size).to.equal(0);
      });
    });
  });
}
