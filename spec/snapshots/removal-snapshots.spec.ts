import { expect } from 'chai';
import type { MikroORM } from '@mikro-orm/core';
import { In, type DataSource } from 'typeorm';
import { SyncMachines } from '../../lib';
import { DATABASES, TestDatabase } from '../support/database';
import { MikroOrmTestDatabase } from '../support/orms/mikro-orm-database';
import { ApiClient, PartnerApi } from '../support/partner-api';
import { deleteKeys, freshPrefix, REDIS_URL } from '../support/redis';
import { MikroOrmCatalog, productSync, TypeOrmCatalog } from './catalog';

/** What a spec needs of one ORM: create a product with variants, remove a variant, list a product's skus. */
interface CatalogDb {
  orm: unknown;
  createProduct(name: string, skus: string[]): Promise<{ productId: number; variantIds: number[] }>;
  /** `bare`: loaded without its relations first (TypeORM), as a script might. */
  removeVariant(id: number, bare: boolean): Promise<void>;
  /** TypeORM: these variants loaded without their relations, removed in one remove(). */
  removeVariantsBare?(ids: number[]): Promise<void>;
  skusOf(productId: number): Promise<string[]>;
  destroy(): Promise<void>;
}

async function typeOrmCatalog(kind: (typeof DATABASES)[number]): Promise<CatalogDb> {
  const { Product, Variant } = TypeOrmCatalog;
  const db = await TestDatabase.create(kind, [Product, Variant]);
  const ds: DataSource = await db.connect();
  return {
    orm: ds,
    async createProduct(name, skus) {
      // One transaction, as MikroORM's one flush: the product's first build already sees its variants.
      return ds.transaction(async (manager) => {
        const product = await manager.getRepository(Product).save({ name });
        const variants = await manager.getRepository(Variant).save(skus.map((sku) => ({ sku, product })));
        return { productId: product.id, variantIds: variants.map((v) => v.id) };
      });
    },
    async removeVariant(id, bare) {
      const repo = ds.getRepository(Variant);
      await repo.remove(await repo.findOneOrFail({ where: { id }, loadEagerRelations: !bare }));
    },
    async removeVariantsBare(ids) {
      const repo = ds.getRepository(Variant);
      await repo.remove(await repo.find({ where: { id: In(ids) }, loadEagerRelations: false }));
    },
    async skusOf(productId) {
      const variants = await ds.getRepository(Variant).find({ where: { product: { id: productId } }, order: { id: 'ASC' } });
      return variants.map((v) => v.sku);
    },
    destroy: () => db.destroy(),
  };
}

async function mikroOrmCatalog(kind: (typeof DATABASES)[number]): Promise<CatalogDb> {
  const { Product, Variant } = MikroOrmCatalog;
  const db = await MikroOrmTestDatabase.create(kind, [Product, Variant]);
  const orm: MikroORM = await db.connect();
  return {
    orm,
    async createProduct(name, skus) {
      const em = orm.em.fork();
      const product = em.create(Product, { name });
      const variants = skus.map((sku) => em.create(Variant, { sku, product }));
      await em.flush();
      return { productId: product.id, variantIds: variants.map((v) => v.id) };
    },
    async removeVariant(id) {
      const em = orm.em.fork();
      em.remove(await em.findOneOrFail(Variant, id));
      await em.flush();
    },
    async skusOf(productId) {
      const variants = await orm.em.fork().find(Variant, { product: productId }, { orderBy: { id: 'asc' } });
      return variants.map((v) => v.sku);
    },
    destroy: () => db.destroy(),
  };
}

const ORMS = [
  { name: 'TypeORM', open: typeOrmCatalog, catalog: TypeOrmCatalog },
  { name: 'MikroORM', open: mikroOrmCatalog, catalog: MikroOrmCatalog },
] as const;

for (const { name, open, catalog } of ORMS) {
  for (const kind of DATABASES) {
    describe(`removal snapshots: to-one relations as { id } (${name}, ${kind})`, function () {
      this.timeout(20_000);
      const prefix = freshPrefix(`snapshots-${name}-${kind}`);
      const api = new PartnerApi();
      const seen: Array<{ op: string; variant: unknown }> = [];
      let db: CatalogDb;
      let sync: SyncMachines;

      before(async () => {
        await api.start();
        db = await open(kind);
        sync = await SyncMachines.start({
          orm: db.orm, redis: REDIS_URL, prefix, worker: { concurrency: 5, retry: { attempts: 2, initialDelayMs: 50 } },
          machines: [productSync(catalog, new ApiClient(api.url), seen, (id) => db.skusOf(id))],
        });
      });

      after(async () => {
        await sync?.close();
        await db?.destroy();
        await api.stop();
        await deleteKeys(prefix);
      });

      for (const bare of name === 'TypeORM' ? [false, true] : [false]) {
        it(`gives the mapper \`variant.product.id\` after a removal, so the product is published again${bare ? ' (variant loaded without relations)' : ''}`, async () => {
          const { productId, variantIds } = await db.createProduct(`Lamp ${bare}`, ['LAMP-S', 'LAMP-L']);
          await sync.drain({ timeoutMs: 10_000 });
          const bodies = () => api.publishes(String(productId)).map((r) => r.body);
          expect(bodies().at(-1)).to.deep.equal({ id: String(productId), name: `Lamp ${bare}`, skus: ['LAMP-S', 'LAMP-L'] });
          const published = bodies().length;

          seen.length = 0;
          await db.removeVariant(variantIds[1], bare);
          await sync.drain({ timeoutMs: 10_000 });

          expect(seen).to.deep.equal([{
            op: 'remove',
            variant: { id: variantIds[1], sku: 'LAMP-L', product: { id: productId }, discontinuedAt: null },
          }]);
          // Exactly one publish more, and it lacks the removed variant.
          expect(bodies().slice(published)).to.deep.equal([{ id: String(productId), name: `Lamp ${bare}`, skus: ['LAMP-S'] }]);
        });
      }

      if (name === 'TypeORM') {
        it('gives each of many variants removed in one remove(), loaded without relations, its own product', async () => {
          // Their keys are read together before the DELETE (a query per entity and 500 rows), and each snapshot
          // must get its own row's key back.
          const lamp = await db.createProduct('Lamp', ['LAMP-1', 'LAMP-2', 'LAMP-3']);
          const desk = await db.createProduct('Desk', ['DESK-1', 'DESK-2']);
          await sync.drain({ timeoutMs: 10_000 });
          seen.length = 0;

          await db.removeVariantsBare!([...lamp.variantIds, desk.variantIds[0]]);
          await sync.drain({ timeoutMs: 10_000 });

          const productOf = (variant: unknown) => (variant as { id: number; product: unknown });
          expect(seen.map((s) => [s.op, productOf(s.variant).id, productOf(s.variant).product])
            .sort((a, b) => Number(a[1]) - Number(b[1]))).to.deep.equal([
            ...lamp.variantIds.map((id) => ['remove', id, { id: lamp.productId }]),
            ['remove', desk.variantIds[0], { id: desk.productId }],
          ].sort((a, b) => Number(a[1]) - Number(b[1])));
          expect(api.publishes(String(lamp.productId)).at(-1)?.body).to.deep.equal({ id: String(lamp.productId), name: 'Lamp', skus: [] });
          expect(api.publishes(String(desk.productId)).at(-1)?.body).to.deep.equal({ id: String(desk.productId), name: 'Desk', skus: ['DESK-2'] });
        });
      }
    });
  }
}
