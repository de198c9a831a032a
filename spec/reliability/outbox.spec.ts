import { performance } from 'node:perf_hooks';
import { expect } from 'chai';
import type { MikroORM } from '@mikro-orm/core';
import { SyncMachines } from '../../lib';
import { createOutboxTable, SyncMachineOutbox as MikroOutbox, SyncMachinePayload as MikroPayload } from '../../adapters/mikro-orm';
import { CreateSyncMachineOutbox1764892800000, SyncMachineOutbox } from '../../adapters/typeorm';
import { DATABASES, DatabaseKind, TestDatabase } from '../support/database';
import { MemoryLogger } from '../support/logger';
import { MikroOrmTestDatabase } from '../support/orms/mikro-orm-database';
import { Customer as MikroCustomer, Order as MikroOrder } from '../support/orms/mikro-orm-shop';
import { defineOrderSync } from '../support/order-sync';
import { ApiClient, PartnerApi } from '../support/partner-api';
import { deleteKeys, freshPrefix } from '../support/redis';
import { Customer, Order } from '../support/shop';
import { PrivateRedis } from './support/private-redis';

/*
 * capture: 'outbox' (SPEC §6.3) on both ORMs and both databases: with Redis (a private one) stopped, writes commit
 * as fast as their outbox inserts allow and lose nothing; a rolled-back transaction leaves no row; once Redis is
 * back, the relay moves every change and each order converges.
 */

/** What the spec does to the shop, per ORM: created with the outbox entity and its table from the library. */
interface OutboxWorld {
  handle: unknown;
  /** Another connection to the database, for the worker runtime, as a worker process has its own. */
  connect(): Promise<unknown>;
  machine: object;
  createOrder(customerId: number, status: string): Promise<number>;
  updateOrder(id: number, status: string): Promise<void>;
  /** Updates in a transaction that then rolls back. */
  updateAndRollBack(id: number, status: string): Promise<void>;
  /** Updates several orders in one transaction. */
  updateInTransaction(ids: number[], status: string): Promise<void>;
  createCustomer(): Promise<number>;
  outboxRows(): Promise<number>;
  destroy(): Promise<void>;
}

async function typeOrmWorld(kind: DatabaseKind, api: PartnerApi): Promise<OutboxWorld> {
  const db = await TestDatabase.create(kind, [Customer, Order, SyncMachineOutbox]);
  const ds = await db.connect({ synchronize: false });
  // The library's migration makes the table; synchronize then only adds the shop's.
  const qr = ds.createQueryRunner();
  await new CreateSyncMachineOutbox1764892800000().up(qr);
  await qr.release();
  const pending = (await ds.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query);
  expect(pending.filter((q) => q.includes('sync_machine_outbox')), 'migration differs from the entity').to.deep.equal([]);
  await ds.synchronize();
  const orders = ds.getRepository(Order);
  return {
    handle: ds,
    connect: () => db.connect({ synchronize: false }),
    machine: new (defineOrderSync(Customer, Order))(new ApiClient(api.url)),
    createCustomer: async () => (await ds.getRepository(Customer).save({ firstName: 'Jane', lastName: 'Yang' })).id,
    createOrder: async (customerId, status) => (await orders.save({ customerId, status, warehouseCode: 'A1' })).id,
    updateOrder: async (id, status) => { await orders.save({ id, status }); },
    updateAndRollBack: async (id, status) => {
      await ds.transaction(async (m) => {
        await m.getRepository(Order).save({ id, status });
        throw new Error('roll back');
      }).catch(() => undefined);
    },
    updateInTransaction: async (ids, status) => {
      await ds.transaction(async (m) => { for (const id of ids) await m.getRepository(Order).save({ id, status }); });
    },
    outboxRows: () => ds.getRepository(SyncMachineOutbox).count(),
    destroy: () => db.destroy(),
  };
}

async function mikroOrmWorld(kind: DatabaseKind, api: PartnerApi): Promise<OutboxWorld> {
  const db = await MikroOrmTestDatabase.create(kind);
  await db.connect(); // the shop's tables and the payload table
  const orm: MikroORM = await db.connect({ options: { entities: [MikroCustomer, MikroOrder, MikroPayload, MikroOutbox] } as never });
  await createOutboxTable(orm);
  if (kind === 'sqlite') {
    // On PostgreSQL the diff reads every schema of the database, which other suites drop meanwhile.
    const diff = await orm.schema.getUpdateSchemaSQL({ wrap: false });
    expect(diff, 'outboxTableSql differs from the entity').to.not.include('sync_machine_outbox');
  }
  return {
    handle: orm,
    connect: () => db.connect({ options: { entities: [MikroCustomer, MikroOrder, MikroPayload, MikroOutbox] } as never }),
    machine: new (defineOrderSync(MikroCustomer, MikroOrder))(new ApiClient(api.url)),
    createCustomer: async () => {
      const em = orm.em.fork();
      const customer = em.create(MikroCustomer, { firstName: 'Jane', lastName: 'Yang' } as never);
      await em.flush();
      return (customer as { id: number }).id;
    },
    createOrder: async (customerId, status) => {
      const em = orm.em.fork();
      const order = em.create(MikroOrder, { customer: em.getReference(MikroCustomer, customerId), status, warehouseCode: 'A1' } as never);
      await em.flush();
      return (order as { id: number }).id;
    },
    updateOrder: async (id, status) => {
      const em = orm.em.fork();
      em.assign(await em.findOneOrFail(MikroOrder, id), { status } as never);
      await em.flush();
    },
    updateAndRollBack: async (id, status) => {
      await orm.em.fork().transactional(async (em) => {
        em.assign(await em.findOneOrFail(MikroOrder, id), { status } as never);
        await em.flush();
        throw new Error('roll back');
      }).catch(() => undefined);
    },
    updateInTransaction: async (ids, status) => {
      await orm.em.fork().transactional(async (em) => {
        for (const id of ids) em.assign(await em.findOneOrFail(MikroOrder, id), { status } as never);
        await em.flush();
      });
    },
    outboxRows: () => orm.em.fork().count(MikroOutbox, {}),
    destroy: () => db.destroy(),
  };
}

const WORLDS = DATABASES.flatMap((kind) => [
  { name: `TypeORM + ${kind}`, create: (api: PartnerApi) => typeOrmWorld(kind, api) },
  { name: `MikroORM + ${kind}`, create: (api: PartnerApi) => mikroOrmWorld(kind, api) },
]);

for (const spec of WORLDS) {
  describe(`capture: 'outbox' with Redis stopped and started, on ${spec.name}`, function () {
    this.timeout(90_000);
    let redis: PrivateRedis;
    let api: PartnerApi;
    let w: OutboxWorld;
    let runtimes: SyncMachines[] = [];
    const prefix = freshPrefix('outbox');
    const logger = new MemoryLogger();

    beforeEach(async () => {
      logger.lines.splice(0);
      redis = await PrivateRedis.create();
      api = await new PartnerApi().start();
      w = await spec.create(api);
    });
    afterEach(async () => {
      await Promise.all(runtimes.map((r) => r.close()));
      runtimes = [];
      await api.stop();
      await w.destroy();
      await redis.destroy();
      await deleteKeys(prefix);
    });

    const start = async (worker: boolean, outboxPollMs = 200) => {
      const sync = await SyncMachines.start({
        orm: worker ? await w.connect() : w.handle, redis: redis.url, prefix, logger, machines: [w.machine], capture: 'outbox', outboxPollMs,
        worker: worker ? { concurrency: 10, retry: { attempts: 5, initialDelayMs: 50 }, stallIntervalMs: 1000, lockTtlMs: 5000 } : false,
      });
      runtimes.push(sync);
      return sync;
    };

    it('a Redis restarted empty, with a worker running throughout: the writes made while it was down reach the API', async () => {
      // Bee-Queue numbers jobs from a counter kept in Redis, which starts again at 1: a ticket made after the restart
      // had the id of one the worker still ran from before (a trial: 5 of 16 restarts, the changes stuck for good).
      await redis.destroy();
      redis = await PrivateRedis.create({ volatile: true });
      const app = await start(false);
      await start(true);
      const customer = await w.createCustomer();
      const ids: number[] = [];
      for (let i = 0; i < 12; i += 1) ids.push(await w.createOrder(customer, 'purchased'));
      await app.drain({ timeoutMs: 30_000 });
      for (let round = 1; round <= 5; round += 1) {
        await redis.stop();
        for (const id of ids) await w.updateOrder(id, `shipped-${round}`);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        await redis.start();
        const want = JSON.stringify(ids.map(() => `shipped-${round}`));
        const got = () => JSON.stringify(ids.map((id) => api.documents.get(String(id))?.order_status));
        for (let waited = 0; got() !== want; waited += 100) {
          if (waited > 15_000) throw new Error(`round ${round}: the API holds ${got()}\n${logger.lines.slice(-15).map((l) => `${l.level}: ${l.message}`).join('\n')}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        await app.drain({ timeoutMs: 30_000 });
      }
      expect(logger.lines.filter((l) => l.message.includes('was taken after it had ended'))).to.deep.equal([]);
      // The data-loss error says that what waited in the outbox is not part of the loss.
      expect(logger.errors().filter((l) => l.includes("came back without the data it held") &&
        l.includes("With capture: 'outbox', the changes committed while Redis was unreachable waited in sync_machine_outbox"))).to.not.deep.equal([]);
    });

    it('loses no change committed while Redis is down, slows no write by more than its outbox insert, keeps rollbacks out', async () => {
      const app = await start(false);
      await start(true);
      const customer = await w.createCustomer();
      const ids: number[] = [];
      for (let i = 0; i < 5; i += 1) ids.push(await w.createOrder(customer, 'purchased'));
      await app.drain({ timeoutMs: 30_000 });
      expect(api.publishes()).to.have.length(5);
      expect(await w.outboxRows()).to.equal(0);

      await redis.stop();
      const waits: number[] = [];
      const timed = async (write: () => Promise<unknown>) => {
        const started = performance.now();
        await write();
        waits.push(performance.now() - started);
      };
      for (const id of ids.slice(0, 3)) await timed(() => w.updateOrder(id, 'shipped'));
      await timed(() => w.updateInTransaction(ids.slice(3), 'packed'));
      let late = 0;
      await timed(async () => { late = await w.createOrder(customer, 'purchased'); });
      await timed(() => w.updateAndRollBack(ids[0], 'rolled-back'));
      expect(await w.outboxRows(), 'rows written with the changes; none for the rollback').to.equal(6);
      // An insert into the outbox is all a write waits for; nothing waits for Redis.
      expect(Math.max(...waits), `write ms: ${waits.map((t) => t.toFixed(0)).join(', ')}`).to.be.below(500);

      // A drain() while Redis is down times out, and uses up the reading its next call would have started from.
      expect(await app.drain({ timeoutMs: 300 }).then(() => 'resolved', (e: Error) => e.name)).to.equal('DrainTimeoutError');
      await redis.start();
      await new Promise((r) => setTimeout(r, 1_500)); // the relay moves the rows, and the worker runs them, meanwhile
      const { outcomes } = await app.drain({ timeoutMs: 30_000 });
      expect(await w.outboxRows()).to.equal(0);
      // The runs of the rows the relay moved count in the drain: before, their reading had failed with Redis down,
      // and the drain's own came after the runs (a trial's drain read {}).
      expect(outcomes, JSON.stringify(outcomes)).to.deep.include({ published: 6 });
      const expected: Record<string, string> = {};
      for (const id of ids.slice(0, 3)) expected[id] = 'shipped';
      for (const id of ids.slice(3)) expected[id] = 'packed';
      expected[late] = 'purchased';
      for (const [id, status] of Object.entries(expected)) {
        expect(api.documents.get(id)?.order_status, `order ${id}`).to.equal(status);
      }
      expect(api.publishes().map((r) => r.body?.order_status)).to.not.include('rolled-back');
      expect(logger.errors().filter((l) => /dropped/.test(l)), logger.errors().join('\n')).to.deep.equal([]);
      expect(logger.errors().some((l) => /is unreachable: committed changes wait in sync_machine_outbox/.test(l))).to.equal(true);
    });

    it('starts an app runtime while Redis is down, keeps its commits in the outbox, moves them once Redis answers', async () => {
      await redis.stop();
      // Before, start() refused ("Cannot reach Redis"), and a web process restarting during an outage could not boot.
      const app = await start(false, 60_000); // a poll this slow leaves the move to the reconnect
      expect(logger.warnings().join('\n')).to.match(/Redis at redis:\/\/127\.0\.0\.1:\d+ does not answer \(.*ECONNREFUSED.*\); started anyway, since capture: 'outbox' keeps every committed change/);
      const customer = await w.createCustomer();
      const ids: number[] = [];
      for (let i = 0; i < 3; i += 1) ids.push(await w.createOrder(customer, 'purchased'));
      await w.updateOrder(ids[0], 'shipped');
      expect(await w.outboxRows(), 'a customer, three orders and an update').to.equal(5);
      // A worker cannot run without Redis: it still refuses (`sync-machine worker` waits for Redis instead).
      const refused = await start(true).then(() => 'started', (error: Error) => error.message);
      expect(refused).to.match(/^Cannot reach Redis at /);

      await redis.start();
      const deadline = Date.now() + 5_000;
      while (await w.outboxRows() > 0) {
        if (Date.now() > deadline) throw new Error('the outbox was not moved after Redis came back');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await start(true);
      await app.drain({ timeoutMs: 30_000 });
      expect(ids.map((id) => api.documents.get(String(id))?.order_status)).to.deep.equal(['shipped', 'purchased', 'purchased']);
      expect(logger.errors().join('\n')).to.match(/is unreachable: committed changes wait in sync_machine_outbox/);
      // The runtime's data-loss marker is set on first contact, not missed as if Redis had lost it.
      expect(logger.errors().join('\n')).not.to.match(/came back without the data it held|dropped/);
      expect(logger.lines.some((l) => /is back after/.test(l.message))).to.equal(true);
    });
  });
}
