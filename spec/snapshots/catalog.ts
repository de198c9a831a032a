import 'reflect-metadata';
import * as mikro from '@mikro-orm/core';
import * as typeorm from 'typeorm';
import { Build, ListenTo, Publish, SubjectIdsFrom, SyncMachine, type Change, type Snapshot } from '../../lib';
import { ApiClient } from '../support/partner-api';

/*
 * The catalog, on both ORMs: a Variant belongs to a Product through a to-one relation with no
 * foreign-key property of its own, so the only way from a removed Variant to its Product is the relation.
 */

export namespace TypeOrmCatalog {
  @typeorm.Entity('products')
  export class Product {
    @typeorm.PrimaryGeneratedColumn() id!: number;
    @typeorm.Column() name!: string;
    @typeorm.OneToMany(() => Variant, (variant) => variant.product) variants!: Variant[];
  }

  @typeorm.Entity('variants')
  export class Variant {
    @typeorm.PrimaryGeneratedColumn() id!: number;
    @typeorm.Column() sku!: string;
    // Eager, so a live Variant has its product for the mapper; a removal must name it too.
    @typeorm.ManyToOne(() => Product, (product) => product.variants, { nullable: false, onDelete: 'CASCADE', eager: true })
    product!: Product;
    @typeorm.Column({ type: 'varchar', nullable: true }) discontinuedAt!: string | null;
  }
}

export namespace MikroOrmCatalog {
  @mikro.Entity({ tableName: 'products' })
  export class Product {
    @mikro.PrimaryKey({ type: 'integer' }) id!: number;
    @mikro.Property({ type: 'string' }) name!: string;
    @mikro.OneToMany(() => Variant, (variant) => variant.product) variants = new mikro.Collection<Variant>(this);
  }

  @mikro.Entity({ tableName: 'variants' })
  export class Variant {
    @mikro.PrimaryKey({ type: 'integer' }) id!: number;
    @mikro.Property({ type: 'string' }) sku!: string;
    @mikro.ManyToOne(() => Product, { deleteRule: 'cascade' }) product!: Product;
    @mikro.Property({ type: 'string', nullable: true }) discontinuedAt?: string | null;
  }
}

interface Catalog {
  Product: abstract new () => { id: number; name: string };
  Variant: abstract new () => { id: number; sku: string; product: { id: number } };
}

/** The machine a user writes: `variant.product.id` for live variants and removal snapshots alike. */
export function productSync(catalog: Catalog, api: ApiClient, seen: Array<{ op: string; variant: unknown }>, skusOf: (productId: number) => Promise<string[]>) {
  const { Product, Variant } = catalog;
  type Variant = InstanceType<typeof Variant>;
  type Product = InstanceType<typeof Product>;

  @SyncMachine({ subject: Product })
  @ListenTo(Product)
  @ListenTo(Variant, { fields: ['sku', 'product'] })
  class ProductSync {
    @SubjectIdsFrom(Variant)
    productOf(variant: Variant | Snapshot<Variant>, change: Change): number {
      seen.push({ op: change.op, variant: JSON.parse(JSON.stringify(variant)) });
      return variant.product.id;
    }

    @Build()
    async build(product: Product) {
      return { id: String(product.id), name: product.name, skus: await skusOf(product.id) };
    }

    @Publish()
    async publish(product: Product, payload: unknown): Promise<void> {
      await api.putOrder(String(product.id), payload);
    }
  }
  return new ProductSync();
}
