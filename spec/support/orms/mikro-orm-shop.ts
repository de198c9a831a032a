import 'reflect-metadata';
import { Collection, Entity, ManyToOne, OneToMany, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';

/* The seed's shop on MikroORM: the same tables and columns as spec/support/shop.ts (TypeORM), minus soft deletes. */

@Entity({ tableName: 'customers' })
export class Customer {
  [OptionalProps]?: 'email' | 'orders' | 'orderIds' | 'fullName';
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string', fieldName: 'first_name' }) firstName!: string;
  @Property({ type: 'string', fieldName: 'last_name' }) lastName!: string;
  @Property({ type: 'string', default: '' }) email: string = '';
  /** Eager, so that a loaded Customer knows its orders, as TypeORM's @RelationId does. */
  @OneToMany(() => Order, (order) => order.customer, { eager: true }) orders = new Collection<Order>(this);

  get orderIds(): number[] {
    return this.orders.getItems().map((order) => order.id);
  }

  get fullName(): string {
    return `${this.firstName} ${this.lastName}`;
  }
}

@Entity({ tableName: 'orders' })
export class Order {
  [OptionalProps]?: 'status' | 'warehouseCode' | 'version';
  @PrimaryKey({ type: 'integer' }) id!: number;
  @ManyToOne(() => Customer, { fieldName: 'customer_id', eager: true, deleteRule: 'cascade' }) customer!: Customer;
  @Property({ type: 'string', default: 'purchased' }) status: string = 'purchased';
  @Property({ type: 'string', fieldName: 'warehouse_code', default: 'W1' }) warehouseCode: string = 'W1';
  /** Bumped by tests on every write, so the API can tell newer payloads from older ones. */
  @Property({ type: 'integer', default: 0 }) version: number = 0;
}
