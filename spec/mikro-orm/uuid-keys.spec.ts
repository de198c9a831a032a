import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { Entity, ManyToOne, OptionalProps, PrimaryKey, Property, Type } from '@mikro-orm/core';
import { DATABASES } from '../support/database';
import { expectNoUuidGone, expectUpperCaseUuidOneSubject, expectUuidResyncs, invoiceMachine } from '../support/own-machines';
import { ApiClient } from '../support/partner-api';
import { mikroOrmOn, suiteRuntime } from '../support/suite-runtime';

/** A value this app's type cannot read: MikroORM throws while it loads the row. */
class MemoType extends Type<string, string> {
  convertToJSValue(value: string): string {
    if (value === 'poison') throw new Error('cannot read a poisoned memo');
    return value;
  }

  getColumnType(): string {
    return 'varchar(255)';
  }
}

@Entity({ tableName: 'uuid_accounts' })
class Account {
  @PrimaryKey({ type: 'uuid' }) id: string = randomUUID();
  @Property({ type: 'string' }) name!: string;
}

@Entity({ tableName: 'uuid_invoices' })
class Invoice {
  [OptionalProps]?: 'memo';
  @PrimaryKey({ type: 'uuid' }) id: string = randomUUID();
  @ManyToOne(() => Account, { eager: true }) account!: Account;
  @Property({ type: 'integer' }) cents!: number;
  @Property({ type: MemoType, default: '' }) memo: string = '';
}

/** The TypeORM suite of the same name (spec/typeorm/uuid-keys.spec.ts), on MikroORM. */
for (const kind of DATABASES) {
  describe(`uuid primary keys on MikroORM + ${kind}`, () => {
    const s = suiteRuntime(`uuid-mikro-${kind}`, () => mikroOrmOn(kind, [Account, Invoice]),
      (api, orm) => [invoiceMachine(Account, Invoice, new ApiClient(api.url), async (accountId) =>
        (await orm.em.fork().find(Invoice, { account: accountId }, { fields: ['id'] })).map((r) => r.id))]);
    const drain = () => s.drain();

    it('publishes, maps, resyncs, unpublishes and reports subjects by their uuid', async () => {
      const { orm, api, sync } = s;
      const em = orm.em.fork();
      const acme = em.create(Account, { name: 'Acme' });
      await em.flush();
      await drain(); // the account's insert maps to no invoice yet; mapped later, it would run them a second time
      const created = Array.from({ length: 10 }, (_, i) => em.create(Invoice, { account: acme, cents: 100 + i }));
      await em.flush();
      const ids = created.map((i) => i.id).sort();
      expect((await drain()).outcomes).to.deep.equal({ published: 10 });
      expect(api.publishes().map((r) => r.id).sort()).to.deep.equal(ids);

      acme.name = 'Acme Ltd';
      await em.flush();
      expect((await drain()).outcomes).to.deep.equal({ published: 10 });
      expect(api.documents.get(ids[3])).to.include({ account: 'Acme Ltd' });

      await expectUuidResyncs(s, ids);

      // A removal unpublishes by uuid; an unknown uuid is gone, not an error. The removal's run may end while the
      // resync reads: drain() counts it all the same.
      em.remove(created.find((i) => i.id === ids[9])!);
      await em.flush();
      await sync.resync('InvoiceSync', { ids: ['00000000-0000-4000-8000-000000000000'] });
      expect((await drain()).outcomes).to.deep.equal({ unpublished: 1, not_publishable: 1 });
      expect(api.deletes().map((r) => r.id)).to.deep.equal([ids[9]]);

      await expectNoUuidGone(s, Invoice, ids[0], kind);
    });

    it('an upper-case uuid the app sets is one subject through its insert and updates', async () => {
      const em = s.orm.em.fork();
      const account = em.create(Account, { name: 'Upper' });
      await em.flush();
      await drain();
      await expectUpperCaseUuidOneSubject(s, kind, async (id) => {
        const invoice = em.create(Invoice, { id, account, cents: 1 });
        await em.flush();
        return async (cents) => { invoice.cents = cents; await em.flush(); };
      }, (query) => em.getConnection().execute(query));
    });

    it('a row the ORM cannot load fails alone; the rest of its batch publishes', async () => {
      const { orm, api, sync } = s;
      const em = orm.em.fork();
      const account = em.create(Account, { name: 'Poisoned' });
      await em.flush();
      await drain();
      const created = Array.from({ length: 6 }, (_, i) => em.create(Invoice, { account, cents: 500 + i }));
      await em.flush();
      await drain();
      api.received.length = 0;
      // Written past the ORM, as a migration or another app would, then notified.
      await em.getConnection().execute(
        `UPDATE uuid_invoices SET cents = cents + 1, memo = CASE WHEN id = '${created[2].id}' THEN 'poison' ELSE '' END`);
      await sync.notifyChanged(Invoice, created.map((i) => i.id));
      expect((await drain()).outcomes).to.deep.equal({ published: 5, failed: 3 });
      expect(api.publishes().map((r) => r.id).sort()).to.deep.equal(created.filter((_, i) => i !== 2).map((i) => i.id).sort());
      const status = await sync.subjectStatus('InvoiceSync', created[2].id);
      expect(status.failed?.error).to.match(/^loading its row failed, alone \(the rest of its batch loaded\): .*cannot read a poisoned memo/);
      expect(status.exists, 'a row the ORM cannot load is there all the same').to.equal(true);
    });
  });
}
