import 'reflect-metadata';
import { Collection, Entity, ManyToOne, OneToMany, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import type { OrderStatus } from '../shop-port';

/** The seed's shop on MikroORM: a Customer has zero or more Orders; the partner API only knows Orders. */
@Entity({ tableName: 'customers' })
export class Customer {
  [OptionalProps]?: 'email' | 'fullName';
  @PrimaryKey() id!: number;
  @Property() firstName!: string;
  @Property() lastName!: string;
  @Property() email: string = '';
  @OneToMany(() => Order, (order) => order.customer) orders = new Collection<Order>(this);

  get fullName(): string {
    return `${this.firstName} ${this.lastName}`;
  }
}

@Entity({ tableName: 'orders' })
export class Order {
  [OptionalProps]?: 'status' | 'warehouseCode';
  @PrimaryKey() id!: number;
  // Eager: the payload needs the customer's name whenever an order is loaded.
  @ManyToOne(() => Customer, { eager: true, deleteRule: 'cascade' }) customer!: Customer;
  @Property() status: OrderStatus = 'purchased';
  // Not part of the payload: changing it must never reach the API.
  @Property() warehouseCode: string = 'W1';
}
