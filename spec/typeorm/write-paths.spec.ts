import { expect } from 'chai';
import Redis from 'ioredis';
import { Column, DataSource, Entity, ManyToOne, PrimaryGeneratedColumn, Repository } from 'typeorm';
import { Build, ListenTo, Publish, SubjectIdsFrom, SyncMachine, SyncMachines } from '../../lib';
import { KeySpace } from '../../lib/redis/keys';
import { DATABASES, TestDatabase } from '../support/database';
import { MemoryLogger } from '../support/logger';
import { typeOrmShop } from '../support/orms/typeorm';
import { ApiClient } from '../support/partner-api';
import { queueInspector } from '../support/queue-inspector';
import { deleteKeys, freshPrefix, REDIS_URL } from '../support/redis';
import { Customer, Order } from '../support/shop';

/*
 * Which TypeORM 1.1.1 write paths sync-machine captures, observed without a worker: every request a write
 * makes stays pending in its machine step's work set in Redis (with the run tickets it made), where these tests
 * read it right after the write resolved.
 *
 * OrderToApiSync (spec/support/order-sync.ts) listens to its subject Order (→ EnsurePublication items
 * `<orderId>`, whose pending request holds no op) and to Customer with fields firstName/lastName
 * (→ FindSubjects items `Customer:<id>`). CustomerCardSync below listens to Order through a mapper, so
 * that an Order write also shows up as a FindSubjects item whose pending request names the op, changed keys
 * and removal snapshot.
 */

@SyncMachine({ subject: Customer })
@ListenTo(Order)
class CustomerCardSync {
  @SubjectIdsFrom(Order)
  customerOf(order: Order) { return order.customerId; }

  @Build()
  build(customer: Customer) { return { id: String(customer.id), name: customer.fullName }; }

  @Publish()
  publish() { /* never runs: these tests start no worker */ }
}

@Entity('shelves')
class Shelf {
  @PrimaryGeneratedColumn() id!: number;
  @Column() label!: string;
}

/** A row with a natural key, for upsert(), and a nullable relation. */
@Entity('skus')
class Sku {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ unique: true }) code!: string;
  @Column() name!: string;
  @ManyToOne(() => Shelf, { nullable: true }) shelf!: Shelf | null;
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
  describe(`TypeORM write paths (${kind})`, function () {
    this.timeout(10_000);
    const prefix = freshPrefix(`write-paths-${kind}`);
    let db: TestDatabase;
    let ds: DataSource;
    let redis: Redis;
    let sync: SyncMachines;
    let logger: MemoryLogger;
    let customers: Repository<Customer>;
    let orders: Repository<Order>;

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

    async function newCustomer(firstName = 'Jane', lastName = 'Yang'): Promise<Customer> {
      return customers.save(customers.create({ firstName, lastName }));
    }

    async function newOrder(customer: Customer): Promise<Order> {
      return orders.save(orders.create({ customerId: customer.id, status: 'purchased' }));
    }

    function table(name: string): string {
      const schema = (ds.options as { schema?: string }).schema;
      // The driver's own quoting: "name" on PostgreSQL and SQLite, `name` on MariaDB.
      return [schema, name].filter(Boolean).map((part) => ds.driver.escape(part!)).join('.');
    }

    function warningsAbout(entity: string): string[] {
      return logger.warnings().filter((w) => w.startsWith(`${entity} was written through`));
    }

    before(async () => {
      db = await TestDatabase.create(kind, [Customer, Order, Sku, Shelf]);
      ds = await db.connect();
      redis = new Redis(REDIS_URL);
      customers = ds.getRepository(Customer);
      orders = ds.getRepository(Order);
    });

    beforeEach(async () => {
      await resetQueues();
      logger = new MemoryLogger();
      // No `worker`: a capture-only runtime, as in a web process. Requests stay in Redis for us to read.
      sync = await SyncMachines.start({
        orm: ds, redis: REDIS_URL, prefix, logger,
        machines: [new typeOrmShop.OrderToApiSync(new ApiClient('http://127.0.0.1:9')), new CustomerCardSync(), new SkuSync()],
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

    describe('repository.save()', () => {
      it('captures inserts: one pending item per new row, with every column as changed key', async () => {
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

      it('captures updates with the changed keys; a subject update enqueues its EnsurePublication', async () => {
        const customer = await newCustomer();
        const order = await newOrder(customer);
        await resetQueues();

        order.status = 'shipped';
        await orders.save(order);
        expect(await waiting('ensure-publication')).to.deep.equal([String(order.id)]);
        const card = await pending('find-subjects', `Order:${order.id}`, CARD_SYNC);
        expect(card.ops).to.deep.equal(['update']);
        expect(card.changedKeys).to.deep.equal(['status']);
      });

      it('enqueues nothing for an update that touches only a field outside `fields` (Customer.email)', async () => {
        const customer = await newCustomer();
        await resetQueues();

        customer.email = 'jane@example.com';
        await customers.save(customer);

        expect(await everythingQueued()).to.deep.equal([]);
        expect((await customers.findOneByOrFail({ id: customer.id })).email).to.equal('jane@example.com');
      });

      it('enqueues FindSubjects for a listed field, merging the keys of later updates into the same pending request', async () => {
        const customer = await newCustomer();
        await resetQueues();

        customer.firstName = 'Janet';
        await customers.save(customer);
        customer.lastName = 'Young';
        customer.email = 'janet@example.com';
        await customers.save(customer);

        expect(await waiting('find-subjects')).to.deep.equal([`Customer:${customer.id}`]);
        const data = await pending('find-subjects', `Customer:${customer.id}`);
        expect(data.ops).to.deep.equal(['update']);
        expect(data.changedKeys).to.deep.equal(['email', 'firstName', 'lastName']);
        expect(await tickets('find-subjects')).to.equal(1); // the later update merged: no second ticket
      });
    });

    describe('repository.remove() and softRemove()', () => {
      it('captures remove() of a Customer as op remove, with a snapshot of the row as it was', async () => {
        const customer = await newCustomer('Ann', 'Lee');
        const id = customer.id;
        await resetQueues();

        await customers.remove(customer);

        expect(customer.id).to.equal(undefined); // TypeORM strips the id: the adapter takes it from the event
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

        await customers.remove(customer);

        expect(await orders.findOneBy({ id: order.id })).to.equal(null); // the database removed it
        expect(await everythingQueued())
          .to.deep.equal([`${ORDER_SYNC} find-subjects Customer:${id}`, `${ORDER_SYNC} find-subjects tickets: 1`]);
        // The snapshot holds columns only, no `orderIds`: the mapper cannot name the vanished orders.
        expect((await pending('find-subjects', `Customer:${id}`)).snapshot).not.to.have.property('orderIds');
      });

      it('captures softRemove() of an Order as op remove', async () => {
        const customer = await newCustomer();
        const order = await newOrder(customer);
        await resetQueues();

        await orders.softRemove(order);

        expect(await waiting('ensure-publication')).to.deep.equal([String(order.id)]);
        expect(await waiting('find-subjects', CARD_SYNC)).to.deep.equal([`Order:${order.id}`]);
        const card = await pending('find-subjects', `Order:${order.id}`, CARD_SYNC);
        expect(card.ops).to.deep.equal(['remove']);
        expect(card.snapshot).to.include({ id: order.id, customerId: customer.id, status: 'purchased' });
      });

      it('captures recover() of a soft-removed Order as op insert (the row is back)', async () => {
        const customer = await newCustomer();
        const order = await newOrder(customer);
        await orders.softRemove(order);
        await resetQueues();

        await orders.recover(order);

        expect(await waiting('ensure-publication')).to.deep.equal([String(order.id)]);
        const card = await pending('find-subjects', `Order:${order.id}`, CARD_SYNC);
        expect(card.ops).to.deep.equal(['insert']);
        expect(card.snapshot).to.equal(undefined);
      });
    });

    describe('repository.insert()', () => {
      it('is captured: TypeORM merges the generated id into the entity before afterInsert', async () => {
        const customer = await newCustomer();
        await resetQueues();

        const plain = { firstName: 'Ins', lastName: 'Erted' };
        const result = await customers.insert(plain);
        const orderResult = await orders.insert([
          { customerId: customer.id, status: 'purchased' }, { customerId: customer.id, status: 'draft' },
        ]);

        const customerId = result.identifiers[0].id as number;
        const orderIds = orderResult.identifiers.map((i) => i.id as number);
        expect(customerId).to.be.a('number');
        expect(await waiting('find-subjects')).to.deep.equal([`Customer:${customerId}`]);
        expect((await pending('find-subjects', `Customer:${customerId}`)).ops).to.deep.equal(['insert']);
        expect((await waiting('ensure-publication')).sort()).to.deep.equal(orderIds.map(String).sort());
      });

      it('a QueryBuilder insert is captured as insert() is, one row or many', async () => {
        const customer = await newCustomer();
        await resetQueues();
        const one = await orders.createQueryBuilder().insert().values({ customerId: customer.id, status: 'purchased' }).execute();
        const many = await orders.createQueryBuilder().insert()
          .values([{ customerId: customer.id, status: 'draft' }, { customerId: customer.id, status: 'shipped' }]).execute();
        const ids = [...one.identifiers, ...many.identifiers].map((i) => String(i.id));
        expect(ids).to.have.length(3);
        expect((await waiting('ensure-publication')).sort()).to.deep.equal(ids.sort());
      });

      it('records the rows of one insert() outside a transaction in one enqueue, done before insert() resolves', async () => {
        const customer = await newCustomer();
        await resetQueues();
        // Bare requests of one enqueue wait in the step's inbox as one entry; an enqueue per row made one entry each
        // (and a 1,000-row insert() on PostgreSQL three times slower than without sync-machine).
        const inbox = new KeySpace(prefix).step(ORDER_SYNC, 'ensure-publication').inbox;

        const result = await orders.insert(Array.from({ length: 50 }, (_, i) => ({ customerId: customer.id, status: i % 2 ? 'purchased' as const : 'draft' as const })));

        expect(await redis.llen(inbox)).to.equal(1);
        const ids = result.identifiers.map((i) => String(i.id));
        expect(ids).to.have.length(50);
        expect((await waiting('ensure-publication')).sort()).to.deep.equal(ids.sort());
        // The machine that maps orders gets every row too, with the op its mapper is told.
        expect((await waiting('find-subjects', CARD_SYNC)).sort()).to.deep.equal(ids.map((id) => `Order:${id}`).sort());
        expect((await pending('find-subjects', `Order:${ids[7]}`, CARD_SYNC)).ops).to.deep.equal(['insert']);
      });
    });

    describe('a nullable relation', () => {
      it('that stays null is no change, though TypeORM writes and reports it on every save()', async () => {
        const skus = ds.getRepository(Sku);
        const sku = await skus.save({ code: `null-${kind}`, name: 'N', shelf: null });
        await resetQueues();
        for (const relations of [{ shelf: true }, {}]) {
          const loaded = await skus.findOneOrFail({ where: { id: sku.id }, relations });
          await skus.save(loaded);
          loaded.shelf = null;
          await skus.save(loaded);
        }
        expect(await everythingQueued()).to.deep.equal([]);
        // Other columns saved with it still count, without the relation among the changed keys.
        const loaded = await skus.findOneOrFail({ where: { id: sku.id }, relations: { shelf: true } });
        loaded.name = 'N2';
        await skus.save(loaded);
        expect(await waiting('ensure-publication', SKU_SYNC)).to.deep.equal([String(sku.id)]);
      });

      it('that is set, or cleared (loaded with it or not), is a change', async () => {
        const skus = ds.getRepository(Sku);
        const shelf = await ds.getRepository(Shelf).save({ label: 'A1' });
        const sku = await skus.save({ code: `set-${kind}`, name: 'S', shelf: null });
        for (const [relations, value] of [[{ shelf: true }, shelf], [{ shelf: true }, null], [{}, shelf], [{}, null]] as const) {
          await resetQueues();
          const loaded = await skus.findOneOrFail({ where: { id: sku.id }, relations });
          loaded.shelf = value;
          await skus.save(loaded);
          expect(await waiting('ensure-publication', SKU_SYNC), `shelf ${JSON.stringify(value)}, loaded with ${JSON.stringify(relations)}`)
            .to.deep.equal([String(sku.id)]);
        }
        expect((await skus.findOneOrFail({ where: { id: sku.id }, relations: { shelf: true } })).shelf).to.equal(null);
      });
    });

    describe('repository.upsert()', () => {
      it('captures a new row as insert with its id', async () => {
        const skus = ds.getRepository(Sku);
        const sku = { code: `new-${kind}`, name: 'New' };
        await skus.upsert(sku, ['code']);

        const row = await skus.findOneByOrFail({ code: sku.code });
        expect(await waiting('ensure-publication', SKU_SYNC)).to.deep.equal([String(row.id)]);
      });

      // PostgreSQL returns the updated row (RETURNING); MariaDB's ON DUPLICATE KEY UPDATE sets the insert id to it.
      const attributed = kind !== 'sqlite';
      it(attributed
        ? `captures a conflicting upsert under the id of the row it updated (${kind === 'postgres' ? 'RETURNING' : 'insert id'})`
        : 'MISATTRIBUTES a conflicting upsert: TypeORM reports the last inserted rowid, not the updated row', async () => {
        const skus = ds.getRepository(Sku);
        const a = await skus.save({ code: `a-${kind}`, name: 'A' });
        const b = await skus.save({ code: `b-${kind}`, name: 'B' });
        await resetQueues();

        const sku = { code: a.code, name: 'A2' };
        await skus.upsert(sku, ['code']);

        expect((await skus.findOneByOrFail({ id: a.id })).name).to.equal('A2'); // row a was updated
        const reported = attributed ? a.id : b.id;
        expect(sku).to.include({ id: reported }); // TypeORM merged this id into the caller's object too
        expect(await waiting('ensure-publication', SKU_SYNC)).to.deep.equal([String(reported)]);
      });
    });

    describe('dataSource.transaction()', () => {
      it('enqueues nothing before the commit and everything after it', async () => {
        const customer = await newCustomer();
        await resetQueues();
        let insideTransaction: string[] | undefined;
        let orderId = 0;

        await ds.transaction(async (manager) => {
          const order = await manager.save(manager.create(Order, { customerId: customer.id }));
          orderId = order.id;
          customer.firstName = 'Tx';
          await manager.save(customer);
          insideTransaction = await everythingQueued();
        });

        expect(insideTransaction).to.deep.equal([]);
        expect(await waiting('ensure-publication')).to.deep.equal([String(orderId)]);
        expect(await waiting('find-subjects')).to.deep.equal([`Customer:${customer.id}`]);
        expect((await pending('find-subjects', `Customer:${customer.id}`)).changedKeys).to.deep.equal(['firstName']);
      });

      it('enqueues nothing when the transaction rolls back', async () => {
        const customer = await newCustomer();
        await resetQueues();
        let orderId = 0;

        const failed = await ds.transaction(async (manager) => {
          orderId = (await manager.save(manager.create(Order, { customerId: customer.id }))).id;
          await manager.save(Customer, { ...customer, firstName: 'Never' });
          throw new Error('changed my mind');
        }).catch((error: Error) => error.message);

        expect(failed).to.equal('changed my mind');
        expect(await orders.findOneBy({ id: orderId })).to.equal(null);
        expect(await everythingQueued()).to.deep.equal([]);
      });

      it('keeps only the outer changes when an inner savepoint rolls back (queryRunner)', async () => {
        const customer = await newCustomer();
        const kept = await newOrder(customer);
        const dropped = await newOrder(customer);
        await resetQueues();

        const qr = ds.createQueryRunner();
        try {
          await qr.startTransaction();
          await qr.manager.save(Order, { ...kept, status: 'outer' });
          await qr.startTransaction(); // savepoint
          await qr.manager.save(Order, { ...dropped, status: 'inner' });
          await qr.manager.save(Customer, { ...customer, firstName: 'Inner' });
          await qr.rollbackTransaction(); // back to the savepoint
          expect(await everythingQueued()).to.deep.equal([]);
          await qr.commitTransaction();
        } finally {
          await qr.release();
        }

        expect(await waiting('ensure-publication')).to.deep.equal([String(kept.id)]);
        expect(await waiting('find-subjects')).to.deep.equal([]);
        expect(await waiting('find-subjects', CARD_SYNC)).to.deep.equal([`Order:${kept.id}`]);
        expect((await orders.findOneByOrFail({ id: dropped.id })).status).to.equal('purchased');
      });

      it('merges an inner savepoint that commits into the outer transaction', async () => {
        const customer = await newCustomer();
        const order = await newOrder(customer);
        await resetQueues();

        const qr = ds.createQueryRunner();
        try {
          await qr.startTransaction();
          await qr.startTransaction();
          await qr.manager.save(Order, { ...order, status: 'inner' });
          await qr.commitTransaction(); // releases the savepoint; the outer transaction is still open
          expect(await everythingQueued()).to.deep.equal([]);
          await qr.commitTransaction();
        } finally {
          await qr.release();
        }

        expect(await waiting('ensure-publication')).to.deep.equal([String(order.id)]);
      });

      it('makes ONE pending item (one ticket) of many writes to one row in one transaction, with the keys united', async () => {
        const customer = await newCustomer();
        const order = await newOrder(customer);
        await resetQueues();

        await ds.transaction(async (manager) => {
          for (let version = 1; version <= 5; version++) await manager.save(Order, { ...order, version });
          await manager.save(Customer, { ...customer, firstName: 'One' });
          await manager.save(Customer, { ...customer, firstName: 'One', lastName: 'Two' });
          await manager.save(Customer, { ...customer, firstName: 'One', lastName: 'Two', email: 'x@example.com' });
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

    describe('writes TypeORM reports without ids: not captured, warned once, notifyChanged() instead', () => {
      it('repository.update(id, {...}): nothing enqueued, one warning; notifyChanged enqueues', async () => {
        const customer = await newCustomer();
        await resetQueues();

        await customers.update(customer.id, { firstName: 'Bulk' });
        await customers.update(customer.id, { firstName: 'Bulk again' });

        expect(await everythingQueued()).to.deep.equal([]);
        expect((await customers.findOneByOrFail({ id: customer.id })).firstName).to.equal('Bulk again');
        const warnings = warningsAbout('Customer');
        expect(warnings).to.have.length(1);
        expect(warnings[0]).to.include('update()').and.include('notifyChanged(Customer, ids)');

        await sync.notifyChanged(Customer, customer.id, ['firstName']);
        expect(await waiting('find-subjects')).to.deep.equal([`Customer:${customer.id}`]);
        const data = await pending('find-subjects', `Customer:${customer.id}`);
        expect(data.ops).to.deep.equal(['update']);
        expect(data.changedKeys).to.deep.equal(['firstName']);
      });

      it('repository.update() of a column outside every listener\'s `fields`: no warning, nothing to capture', async () => {
        const customer = await newCustomer();
        await resetQueues();
        // A trial's update() of an unwatched `note` was warned of as a write whose rows cannot be seen.
        await customers.update(customer.id, { email: 'bulk@example.com' });
        expect(warningsAbout('Customer')).to.deep.equal([]);
        expect(await everythingQueued()).to.deep.equal([]);
        // One that sets a watched column as well is warned of, as before.
        await customers.update(customer.id, { email: 'x@example.com', lastName: 'Bulk' });
        expect(warningsAbout('Customer')).to.have.length(1);
      });

      it('repository.delete(): nothing enqueued, one warning', async () => {
        const a = await newCustomer();
        const b = await newCustomer();
        await resetQueues();

        await customers.delete(a.id);
        await customers.delete({ id: b.id });

        expect(await customers.countBy({ id: a.id })).to.equal(0);
        expect(await everythingQueued()).to.deep.equal([]);
        const warnings = warningsAbout('Customer');
        expect(warnings).to.have.length(1);
        expect(warnings[0]).to.include('delete()').and.include('notifyChanged(Customer, ids)');
        // A deleted Customer cannot be mapped to its Orders: the warning sends the user to the subjects (a trial
        // followed "notifyChanged(InvoiceLine, ids)" for deleted lines, and nothing was published).
        expect(warnings[0]).to.include('call notifyChanged(Subject, ids) for the subjects those rows fed');
      });

      it('repository.softDelete() and restore(): nothing enqueued, one warning each', async () => {
        const order = await newOrder(await newCustomer());
        await resetQueues();

        await orders.softDelete(order.id);
        await orders.softDelete({ id: order.id });
        await orders.restore(order.id);

        expect(await everythingQueued()).to.deep.equal([]);
        const warnings = warningsAbout('Order');
        expect(warnings).to.have.length(2);
        expect(warnings[0]).to.include('softDelete()').and.include('notifyChanged(Order, ids)');
        expect(warnings[1]).to.include('restore()').and.include('notifyChanged(Order, ids)');
      });

      it('QueryBuilder update and increment(): nothing enqueued, one warning for the entity', async () => {
        const order = await newOrder(await newCustomer());
        await resetQueues();

        await ds.createQueryBuilder().update(Order).set({ status: 'qb' }).where('id = :id', { id: order.id }).execute();
        await orders.increment({ id: order.id }, 'version', 1);

        const row = await orders.findOneByOrFail({ id: order.id });
        expect([row.status, row.version]).to.deep.equal(['qb', 1]);
        expect(await everythingQueued()).to.deep.equal([]);
        const warnings = warningsAbout('Order');
        expect(warnings).to.have.length(1);
        expect(warnings[0]).to.include('QueryBuilder update').and.include('notifyChanged(Order, ids)');

        await sync.notifyChanged(Order, order.id);
        expect(await waiting('ensure-publication')).to.deep.equal([String(order.id)]);
      });

      it("save() of a Customer's one-to-many collection moving an Order: nothing enqueued, one warning naming that path", async () => {
        const [jane, bob] = [await newCustomer(), await newCustomer()];
        const order = await newOrder(jane);
        await resetQueues();

        // TypeORM updates the order's foreign key from the parent and reports neither the row nor what changed.
        const parent = await customers.findOneOrFail({ where: { id: bob.id }, relations: { orders: true } });
        parent.orders = [await orders.findOneByOrFail({ id: order.id })];
        await customers.save(parent);

        expect((await orders.findOneByOrFail({ id: order.id })).customerId).to.equal(bob.id);
        expect(await everythingQueued()).to.deep.equal([]);
        expect(warningsAbout('Order')).to.deep.equal(['Order was written through a save() of the other side of its relation ' +
          '(a one-to-many collection such as customer.orders = [...], or the inverse side of a one-to-one), for which ' +
          'TypeORM reports no ids: sync-machine cannot see which rows changed. Set the relation on the Order itself and ' +
          'save() it, or call notifyChanged(Order, ids) after such writes.']);

        // The way the warning gives: the order's own relation, saved.
        const moved = await orders.findOneByOrFail({ id: order.id });
        moved.customer = jane;
        await orders.save(moved);
        expect(await waiting('ensure-publication')).to.deep.equal([String(order.id)]);
      });

      it('raw SQL (dataSource.query UPDATE): nothing enqueued and nothing logged, TypeORM never sees it', async () => {
        const customer = await newCustomer();
        await resetQueues();

        await ds.query(`UPDATE ${table('customers')} SET first_name = 'Raw' WHERE id = ${Number(customer.id)}`);

        expect((await customers.findOneByOrFail({ id: customer.id })).firstName).to.equal('Raw');
        expect(await everythingQueued()).to.deep.equal([]);
        expect(logger.lines).to.deep.equal([]);
      });
    });

    describe('guarantees of the capture itself', () => {
      it('resolves the write call only after its request and ticket are in Redis', async () => {
        const customer = await newCustomer();
        await resetQueues();

        const order = await orders.save(orders.create({ customerId: customer.id }));
        // No drain, no wait: read Redis right away.
        expect(await waiting('ensure-publication')).to.deep.equal([String(order.id)]);
        expect(await tickets('ensure-publication')).to.equal(1);

        await ds.transaction((manager) => manager.save(Order, { ...order, status: 'shipped' }));
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

        const saved = await orders.save(orders.create({ customerId: customer.id }));
        await orders.save({ ...order, status: 'shipped' });

        expect(await orders.countBy({ id: saved.id })).to.equal(1);
        expect((await orders.findOneByOrFail({ id: order.id })).status).to.equal('shipped');
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

      it('after sync.close(), writes still succeed and are no longer captured', async () => {
        const customer = await newCustomer();
        await resetQueues();
        await sync.close();

        const order = await orders.save(orders.create({ customerId: customer.id }));

        expect(await orders.countBy({ id: order.id })).to.equal(1);
        expect(await everythingQueued()).to.deep.equal([]);
      });
    });
  });
}
