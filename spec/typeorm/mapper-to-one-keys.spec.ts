import { expect } from 'chai';
import { Column, Entity, ManyToOne, OneToMany, PrimaryGeneratedColumn } from 'typeorm';
import { Build, ListenTo, Publish, SubjectIdsFrom, SyncMachine } from '../../lib';
import { DATABASES } from '../support/database';
import { ApiClient } from '../support/partner-api';
import { suiteRuntime, typeOrmOn } from '../support/suite-runtime';

@Entity('keyed_products')
class Product {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'varchar' }) title!: string;
  @OneToMany(() => Stock, (s) => s.product) stocks!: Stock[];
}

@Entity('keyed_warehouses')
class Warehouse {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'varchar' }) code!: string;
}

/** A stock row whose relations are not eager and have no foreign-key property: what a mapper reads is `product.id`. */
@Entity('keyed_stocks')
class Stock {
  @PrimaryGeneratedColumn() id!: number;
  @ManyToOne(() => Product, (p) => p.stocks, { nullable: true }) product!: Product | null;
  @ManyToOne(() => Warehouse, { eager: true }) warehouse!: Warehouse;
  @Column({ type: 'int' }) qty!: number;
}

/** The README's mapper, `stock.product.id`, for live rows and removed ones alike. */
function productMachine(client: ApiClient, seen: unknown[]) {
  @SyncMachine({ subject: Product, relations: { stocks: { warehouse: true } } })
  @ListenTo(Product, { fields: ['title'] })
  @ListenTo(Stock, { fields: ['qty', 'product'] })
  class ProductSync {
    @Build() build(p: Product) {
      return { title: p.title, stock: Object.fromEntries(p.stocks.map((s) => [s.warehouse.code, s.qty])) };
    }

    @Publish() async publish(p: Product, payload: unknown) { await client.putOrder(String(p.id), payload); }
    @SubjectIdsFrom(Stock) productOf(stock: Stock) {
      seen.push({ product: stock.product, warehouse: stock.warehouse.code });
      return stock.product?.id;
    }
  }
  return new ProductSync();
}

/** The same, with the mapper as a user copies it, without a guard for a stock of no product. */
function unguardedMachine(client: ApiClient) {
  @SyncMachine({ subject: Product, name: 'ProductSync', relations: { stocks: { warehouse: true } } })
  @ListenTo(Stock, { fields: ['qty', 'product'] })
  class UnguardedSync {
    @Build() build(p: Product) {
      return { title: p.title, stock: Object.fromEntries(p.stocks.map((s) => [s.warehouse.code, s.qty])) };
    }

    @Publish() async publish(p: Product, payload: unknown) { await client.putOrder(String(p.id), payload); }
    @SubjectIdsFrom(Stock) productOf(stock: Stock) { return stock.product!.id; }
  }
  return new UnguardedSync();
}

for (const kind of DATABASES) {
  describe(`a mapper that throws on a row moved to no parent, on TypeORM + ${kind}`, () => {
    const s = suiteRuntime(`to-one-unguarded-${kind}`, () => typeOrmOn(kind, [Product, Warehouse, Stock]),
      (api) => [unguardedMachine(new ApiClient(api.url))]);

    it('still republishes the parent it left, and the change fails with the error', async () => {
      const { orm: ds, api } = s;
      const p = await ds.getRepository(Product).save({ title: 'P' });
      const w = await ds.getRepository(Warehouse).save({ code: 'W1' });
      const stocks = ds.getRepository(Stock);
      const stock = await stocks.save({ product: p, warehouse: w, qty: 3 });
      expect((await s.drain()).failedChanges).to.deep.equal([]);
      expect(api.documents.get(String(p.id))).to.deep.equal({ title: 'P', stock: { W1: 3 } });

      const moving = await stocks.findOneByOrFail({ id: stock.id });
      moving.product = null;
      await stocks.save(moving);
      const { failedChanges } = await s.drain();
      // Before, the product it left kept { W1: 3 }: the throw on the current row came before its earlier values.
      expect(api.documents.get(String(p.id))).to.deep.equal({ title: 'P', stock: {} });
      // Where in the app the mapper threw, and the fix: before, the message alone (a trial).
      expect(failedChanges.map((f) => f.error.includes(` (at ${__filename}:`))).to.deep.equal([true]);
      expect(failedChanges.map(({ entity, id, error }) => ({ entity, id, error: error.replace(/ \(at [^)]+\)/, '') }))).to.deep.equal([{
        entity: 'Stock', id: String(stock.id),
        error: `UnguardedSync.productOf threw for Stock ${stock.id}: Cannot read properties of null (reading 'id'). A ` +
          'to-one relation is null where the row has none (a row moved to no parent): guard it, as row.parent?.id',
      }]);
    });
  });

  describe(`a mapper given a changed row on TypeORM + ${kind}: its to-one relations hold their keys`, () => {
    const seen: unknown[] = [];
    const s = suiteRuntime(`to-one-keys-${kind}`, () => typeOrmOn(kind, [Product, Warehouse, Stock]),
      (api) => [productMachine(new ApiClient(api.url), seen)]);

    it('a relation that is not loaded comes as { id }, null for none; an eager one as loaded', async () => {
      const { orm: ds, api } = s;
      const [p] = await ds.getRepository(Product).save([{ title: 'P' }]);
      const w = await ds.getRepository(Warehouse).save({ code: 'W1' });
      const stocks = ds.getRepository(Stock);
      const stock = await stocks.save({ product: p, warehouse: w, qty: 1 });
      const orphan = await stocks.save({ product: null, warehouse: w, qty: 1 });
      expect((await s.drain()).failedChanges).to.deep.equal([]);
      seen.length = 0;

      await stocks.update(stock.id, { qty: 77 });
      await s.sync.notifyChanged(Stock, [stock.id, orphan.id], ['qty']);
      // Before, `stock.product` was undefined on a live row: the mapper threw on every attempt (a trial).
      expect((await s.drain()).failedChanges).to.deep.equal([]);
      expect(api.documents.get(String(p.id))).to.deep.equal({ title: 'P', stock: { W1: 77 } });
      expect(seen).to.have.deep.members([{ product: { id: p.id }, warehouse: 'W1' }, { product: null, warehouse: 'W1' }]);

      // Removed: the snapshot's shape, the same.
      seen.length = 0;
      await stocks.remove(await stocks.findOneByOrFail({ id: stock.id }));
      expect((await s.drain()).failedChanges).to.deep.equal([]);
      expect(api.documents.get(String(p.id))).to.deep.equal({ title: 'P', stock: {} });
    });
  });
}
