import 'reflect-metadata';
import { expect } from 'chai';
import { Entity, ManyToOne, PrimaryKey, Property } from '@mikro-orm/core';
import { bigintIds, expectBigintIds } from '../support/bigint-keys';
import { DATABASES } from '../support/database';
import { invoiceMachine } from '../support/own-machines';
import { ApiClient } from '../support/partner-api';
import { mikroOrmOn, suiteRuntime } from '../support/suite-runtime';

@Entity({ tableName: 'bigint_accounts' })
class Account {
  @PrimaryKey({ type: 'bigint', autoincrement: false }) id!: string;
  @Property({ type: 'string' }) name!: string;
}

@Entity({ tableName: 'bigint_invoices' })
class Invoice {
  @PrimaryKey({ type: 'bigint', autoincrement: false }) id!: string;
  @ManyToOne(() => Account, { eager: true }) account!: Account;
  @Property({ type: 'integer' }) cents!: number;
}

/** The TypeORM suite of the same name (spec/typeorm/bigint-keys.spec.ts), on MikroORM, whose BigIntType maps to strings. */
for (const kind of DATABASES) {
  describe(`bigint primary keys on MikroORM + ${kind}`, () => {
    const s = suiteRuntime(`bigint-mikro-${kind}`, () => mikroOrmOn(kind, [Account, Invoice]),
      (api, orm) => [invoiceMachine(Account, Invoice, new ApiClient(api.url), async (accountId) =>
        (await orm.em.fork().find(Invoice, { account: accountId }, { fields: ['id'] })).map((r) => String(r.id)))]);

    it('publishes and resyncs by bigint ids, and refuses ids no bigint can hold', async () => {
      const { orm, api } = s;
      const em = orm.em.fork();
      const account = em.create(Account, { id: '4398046511104', name: 'Acme' });
      await em.flush();
      await s.drain();
      const ids = bigintIds(kind);
      for (const [i, id] of ids.entries()) em.create(Invoice, { id, account, cents: 100 + i });
      await em.flush();
      expect((await s.drain()).outcomes).to.deep.equal({ published: ids.length });
      expect(api.publishes().map((r) => r.id).sort()).to.deep.equal([...ids].sort());
      await expectBigintIds(s, Invoice, ids);
    });
  });
}
