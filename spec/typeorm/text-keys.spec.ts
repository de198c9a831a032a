import { expect } from 'chai';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import { Build, ListenTo, Publish, SyncMachine, Unpublish } from '../../lib';
import { DATABASES } from '../support/database';
import { ApiClient } from '../support/partner-api';
import { suiteRuntime, typeOrmOn } from '../support/suite-runtime';

@Entity('text_key_products')
class Product {
  @PrimaryColumn({ type: 'varchar', length: 40 }) code!: string;
  @Column({ type: 'varchar' }) name!: string;
}

function productMachine(api: ApiClient) {
  @SyncMachine({ subject: Product, name: 'ProductSync' })
  @ListenTo(Product)
  class ProductSync {
    @Build() build(product: Product) { return { code: product.code, name: product.name }; }
    @Publish() async publish(product: Product, payload: unknown) { await api.putOrder(product.code, payload); }
    @Unpublish() async unpublish(code: string) { await api.deleteOrder(code); }
  }
  return new ProductSync();
}

/**
 * A text key is taken as spelled. MySQL/MariaDB compare it without case, so an id spelled otherwise than its row
 * finds the row; the run, finding no row of its own id, reported the subject gone and left its document stale (a
 * trial). It fails now, naming the row's spelling.
 */
for (const kind of DATABASES) {
  describe(`text primary keys spelled otherwise than their rows, on TypeORM + ${kind}`, () => {
    const s = suiteRuntime(`text-keys-${kind}`, () => typeOrmOn(kind, [Product]), (api) => [productMachine(new ApiClient(api.url))]);

    it('publish under the row\'s spelling; another spelling that finds the row anyway fails at once, and the row runs', async () => {
      const products = s.orm.getRepository(Product);
      await products.save({ code: 'SKU-1', name: 'Anvil' });
      await products.save({ code: 'SKU-2', name: 'Bolt' });
      expect((await s.drain()).outcomes).to.deep.equal({ published: 2 });
      await s.orm.query(`UPDATE text_key_products SET name = name || ' II'`.replace('name || \' II\'', kind === 'mariadb' ? "CONCAT(name, ' II')" : "name || ' II'"));
      // One alone, one beside its row's own spelling in the same call (a trial's 'sku-2' then passed as gone).
      await s.sync.notifyChanged(Product, ['sku-1']);
      await s.sync.notifyChanged(Product, ['SKU-2', 'sku-2']);
      const drained = await s.drain();
      if (kind === 'mariadb') {
        // Failed at once (no retry can find a row of its own), and the row's own subject ran instead.
        expect(drained.failed.map((f) => [f.subjectId, f.attempts]).sort()).to.deep.equal([['sku-1', 1], ['sku-2', 1]]);
        expect(drained.failed.find((f) => f.subjectId === 'sku-1')!.error).to.include('the database finds the Product row ' +
          'spelled "SKU-1" for "sku-1" (it compares Product.code without case), and a subject is its row\'s id as the row ' +
          'spells it; the subject "SKU-1" runs instead. Notify, resync or map it as "SKU-1"');
        expect(s.api.documents.get('SKU-1')).to.include({ name: 'Anvil II' });
      } else {
        // Compared as spelled: no row has those ids, and they were never published.
        expect(drained.outcomes).to.deep.include({ not_publishable: 2 });
        expect(s.api.documents.get('SKU-1')).to.include({ name: 'Anvil' });
        await s.sync.notifyChanged(Product, ['SKU-1']);
        await s.drain();
        expect(s.api.documents.get('SKU-1')).to.include({ name: 'Anvil II' });
      }
      expect(s.api.documents.get('SKU-2')).to.include({ name: 'Bolt II' });
      expect([...s.api.documents.keys()].sort(), 'never a document under another spelling').to.deep.equal(['SKU-1', 'SKU-2']);
    });
  });
}
