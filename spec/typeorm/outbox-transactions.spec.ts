import { expect } from 'chai';
import type { DataSource } from 'typeorm';
import { SyncMachineOutbox, TypeOrmAdapter } from '../../adapters/typeorm';
import { CreateSyncMachineOutbox1764892800000 } from '../../adapters/typeorm/outbox-migration';
import type { CapturedChange } from '../../lib/ports';
import { DATABASES, TestDatabase } from '../support/database';
import { MemoryLogger } from '../support/logger';
import { Customer, Order } from '../support/shop';

/*
 * capture: 'outbox' on TypeORM writes a transaction's changes into sync_machine_outbox just before its outermost
 * commit, a few hundred rows per INSERT. Observed through the adapter alone, with a listener that moves nothing,
 * so the rows stay in the table to be read.
 */
for (const kind of DATABASES) {
  describe(`TypeORM outbox rows of a transaction (${kind})`, function () {
    this.timeout(60_000);
    let db: TestDatabase;
    let ds: DataSource;
    let unsubscribe: () => void;
    let notified: CapturedChange[][];
    let customerId: number;

    before(async () => {
      db = await TestDatabase.create(kind, [Customer, Order, SyncMachineOutbox]);
      ds = await db.connect({ synchronize: false });
      const qr = ds.createQueryRunner();
      await new CreateSyncMachineOutbox1764892800000().up(qr);
      await qr.release();
      await ds.synchronize();
      customerId = (await ds.getRepository(Customer).save({ firstName: 'Jane', lastName: 'Yang' })).id;
      const adapter = new TypeOrmAdapter(ds, new MemoryLogger());
      await adapter.outbox.check();
      unsubscribe = adapter.onCommitted(new Set([Order]), async (changes) => { notified.push(changes); }, { outbox: true });
    });

    after(async () => {
      unsubscribe?.();
      await db?.destroy();
    });

    beforeEach(async () => {
      notified = [];
      await ds.getRepository(SyncMachineOutbox).clear();
    });

    /** The outbox's entries, decoded: `<op> <id>` each, sorted. */
    async function outboxEntries(): Promise<string[]> {
      const rows = await ds.getRepository(SyncMachineOutbox).find();
      return rows.map((row) => JSON.parse(row.entry) as { e: string; id: string; op: string })
        .map((entry) => `${entry.e} ${entry.op} ${entry.id}`).sort();
    }

    it('writes the changes of a savepoint that was released, and none of one that was rolled back', async () => {
      const orders = ds.getRepository(Order);
      const [kept, released, rolledBack] = await orders.save([0, 1, 2].map(() => orders.create({ customerId })));
      await ds.getRepository(SyncMachineOutbox).clear();
      notified = [];

      await ds.transaction(async (manager) => {
        await manager.save(Order, { ...kept, status: 'shipped' });
        await manager.transaction(async (inner) => { await inner.save(Order, { ...released, status: 'shipped' }); });
        await manager.transaction(async (inner) => {
          await inner.save(Order, { ...rolledBack, status: 'shipped' });
          throw new Error('roll the savepoint back');
        }).catch(() => undefined);
      });

      expect(await outboxEntries()).to.deep.equal([`Order update ${kept.id}`, `Order update ${released.id}`].sort());
      expect(notified.flat().map((c) => c.id).sort()).to.deep.equal([String(kept.id), String(released.id)].sort());
    });

    it('writes nothing for a transaction that rolls back after its writes', async () => {
      const order = await ds.getRepository(Order).save({ customerId });
      await ds.getRepository(SyncMachineOutbox).clear();
      notified = [];

      await ds.transaction(async (manager) => {
        await manager.save(Order, { ...order, status: 'shipped' });
        throw new Error('roll back');
      }).catch(() => undefined);

      expect(await outboxEntries()).to.deep.equal([]);
      expect(notified).to.deep.equal([]);
    });

    it('writes one row per changed order of a 1,200-row transaction, in statements the database takes', async () => {
      // More rows than one INSERT takes (500): several statements, all in the transaction.
      const ids: number[] = [];
      await ds.transaction(async (manager) => {
        for (let i = 0; i < 1200; i += 200) {
          const made = await manager.save(Order, Array.from({ length: 200 }, () => manager.create(Order, { customerId })));
          ids.push(...made.map((order) => order.id));
        }
        // A second write of one of them in the same transaction: still one row for it.
        await manager.save(Order, { id: ids[0], status: 'shipped' });
      });

      const entries = await outboxEntries();
      expect(entries).to.have.length(1200);
      expect(entries).to.deep.equal(ids.map((id) => `Order insert ${id}`).sort());
      expect(notified).to.have.length(1);
    });
  });
}
