import { expect } from 'chai';
import {
  Column, Entity, ManyToOne, PrimaryGeneratedColumn, RelationId,
} from 'typeorm';
import { DATABASES } from '../support/database';
import { expectNoUuidGone, expectUpperCaseUuidOneSubject, expectUuidResyncs, invoiceMachine } from '../support/own-machines';
import { ApiClient } from '../support/partner-api';
import { suiteRuntime, typeOrmOn } from '../support/suite-runtime';

@Entity('uuid_accounts')
class Account {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'varchar' }) name!: string;
  @Column({ type: 'varchar', default: '' }) notes!: string;
}

@Entity('uuid_invoices')
class Invoice {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @ManyToOne(() => Account, { eager: true, nullable: false }) account!: Account;
  @RelationId((i: Invoice) => i.account) accountId!: string;
  @Column({ type: 'int' }) cents!: number;
  /** A value this app's transformer cannot read: the ORM throws while it loads the row. */
  @Column({
    type: 'varchar', default: '',
    transformer: { to: (v: string) => v, from: (v: string) => { if (v === 'poison') throw new Error('cannot read a poisoned memo'); return v; } },
  }) memo!: string;
}

/** A fresh app's keys are often uuids: the pipeline, resync, notifyChanged and subjectStatus take them as they are. */
for (const kind of DATABASES) {
  describe(`uuid primary keys on TypeORM + ${kind}`, () => {
    const s = suiteRuntime(`uuid-${kind}`, () => typeOrmOn(kind, [Account, Invoice]),
      (api, ds) => [invoiceMachine(Account, Invoice, new ApiClient(api.url), async (accountId) =>
        (await ds.getRepository(Invoice).find({ where: { account: { id: accountId } }, loadEagerRelations: false })).map((r) => r.id))]);
    const drain = () => s.drain();

    it('publishes, maps, resyncs, unpublishes and reports subjects by their uuid', async () => {
      const { orm: ds, api, sync } = s;
      const accounts = ds.getRepository(Account);
      const invoices = ds.getRepository(Invoice);
      const acme = await accounts.save({ name: 'Acme' });
      await drain(); // the account's insert maps to no invoice yet; mapped later, it would run them a second time
      const saved = await invoices.save(Array.from({ length: 10 }, (_, i) => ({ account: acme, cents: 100 + i })));
      const ids = saved.map((i) => i.id).sort();
      expect(ids[0]).to.match(/^[0-9a-f-]{36}$/);
      expect(await drain()).to.deep.include({ outcomes: { published: 10 } });
      expect(api.publishes().map((r) => r.id).sort()).to.deep.equal(ids);

      // A rename reaches every invoice of the account through the uuid mapper; a column outside `fields` none.
      await accounts.update(acme.id, { notes: 'ignored' });
      await sync.notifyChanged(Account, acme.id, ['notes']).catch(() => undefined); // watched by nobody: refused
      await accounts.save({ ...acme, name: 'Acme Ltd' });
      expect((await drain()).outcomes).to.deep.equal({ published: 10 });
      expect(api.documents.get(ids[3])).to.include({ account: 'Acme Ltd' });

      await expectUuidResyncs(s, ids);

      // A removal unpublishes by uuid; an unknown uuid is gone, not an error. The removal's run may end while the
      // resync reads: drain() counts it all the same.
      await invoices.remove(await invoices.findOneByOrFail({ id: ids[9] }));
      await sync.resync('InvoiceSync', { ids: ['00000000-0000-4000-8000-000000000000'] });
      expect((await drain()).outcomes).to.deep.equal({ unpublished: 1, not_publishable: 1 });
      expect(api.deletes().map((r) => r.id)).to.deep.equal([ids[9]]);
      expect(await sync.subjectStatus('InvoiceSync', ids[9])).to.deep.include({ pending: false });

      await expectNoUuidGone(s, Invoice, ids[0], kind);
    });

    it('an upper-case uuid the app sets is one subject through its insert and updates', async () => {
      const { orm: ds } = s;
      const account = await ds.getRepository(Account).save({ name: 'Upper' });
      await drain();
      await expectUpperCaseUuidOneSubject(s, kind, async (id) => {
        const invoices = ds.getRepository(Invoice);
        const invoice = await invoices.save(invoices.create({ id, account, cents: 1 }));
        return async (cents) => { invoice.cents = cents; await invoices.save(invoice); };
      }, (query) => ds.query(query));
    });

    it('a row the ORM cannot load fails alone; the rest of its batch publishes', async () => {
      const { orm: ds, api, sync } = s;
      const accounts = ds.getRepository(Account);
      const invoices = ds.getRepository(Invoice);
      const account = await accounts.save({ name: 'Poisoned' });
      await drain();
      api.received.length = 0;
      const saved = await invoices.save(Array.from({ length: 6 }, (_, i) => ({ account, cents: 500 + i })));
      await drain();
      api.received.length = 0;
      // Written past the ORM, as a migration or another app would, then notified.
      await ds.query(`UPDATE uuid_invoices SET cents = cents + 1, memo = CASE WHEN id = '${saved[2].id}' THEN 'poison' ELSE '' END`);
      await sync.notifyChanged(Invoice, saved.map((i) => i.id));
      const outcomes = (await drain()).outcomes;
      // 3 attempts of the poisoned one; the other 5 published on the first.
      expect(outcomes).to.deep.equal({ published: 5, failed: 3 });
      expect(api.publishes().map((r) => r.id).sort()).to.deep.equal(saved.filter((_, i) => i !== 2).map((i) => i.id).sort());
      const status = await sync.subjectStatus('InvoiceSync', saved[2].id);
      expect(status.failed?.error).to.match(/^loading its row failed, alone \(the rest of its batch loaded\): .*cannot read a poisoned memo/);
      expect(status.exists, 'a row the ORM cannot load is there all the same').to.equal(true);
    });
  });
}
