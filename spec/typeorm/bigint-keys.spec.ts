import { expect } from 'chai';
import { Column, Entity, ManyToOne, PrimaryColumn } from 'typeorm';
import { bigintIds, expectBigintIds } from '../support/bigint-keys';
import { DATABASES } from '../support/database';
import { invoiceMachine } from '../support/own-machines';
import { ApiClient } from '../support/partner-api';
import { suiteRuntime, typeOrmOn } from '../support/suite-runtime';

@Entity('bigint_accounts')
class Account {
  @PrimaryColumn({ type: 'bigint' }) id!: string;
  @Column({ type: 'varchar' }) name!: string;
}

@Entity('bigint_invoices')
class Invoice {
  @PrimaryColumn({ type: 'bigint' }) id!: string;
  @ManyToOne(() => Account, { eager: true, nullable: false }) account!: Account;
  @Column({ type: 'int' }) cents!: number;
}

/** A bigint key's ids are strings in TypeORM: refused up front when no bigint can hold them, as integer keys' are. */
for (const kind of DATABASES) {
  describe(`bigint primary keys on TypeORM + ${kind}`, () => {
    const s = suiteRuntime(`bigint-${kind}`, () => typeOrmOn(kind, [Account, Invoice]),
      (api, ds) => [invoiceMachine(Account, Invoice, new ApiClient(api.url), async (accountId) =>
        (await ds.getRepository(Invoice).find({ where: { account: { id: accountId } }, loadEagerRelations: false })).map((r) => String(r.id)))]);

    it('publishes and resyncs by bigint ids, and refuses ids no bigint can hold', async () => {
      const { orm: ds, api } = s;
      const account = await ds.getRepository(Account).save({ id: '4398046511104', name: 'Acme' });
      await s.drain();
      const ids = bigintIds(kind);
      await ds.getRepository(Invoice).save(ids.map((id, i) => ({ id, account, cents: 100 + i })));
      expect((await s.drain()).outcomes).to.deep.equal({ published: ids.length });
      expect(api.publishes().map((r) => r.id).sort()).to.deep.equal([...ids].sort());
      await expectBigintIds(s, Invoice, ids);
    });
  });
}
