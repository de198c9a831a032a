import 'reflect-metadata';
import { Column, Entity, Index, JoinColumn, ManyToOne, OneToMany, PrimaryGeneratedColumn, RelationId } from 'typeorm';
import type { OrderStatus } from '../shop-port';

/** The seed's shop on TypeORM: a Customer has zero or more Orders; the partner API only knows Orders. */

@Entity('customers')
export class Customer {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ name: 'first_name' }) firstName!: string;
  @Column({ name: 'last_name' }) lastName!: string;
  @Column({ default: '' }) email!: string;
  @OneToMany(() => Order, (order) => order.customer) orders!: Order[];
  // Loaded with every Customer, so the machine can map a renamed customer to her orders without a query.
  @RelationId((customer: Customer) => customer.orders) orderIds!: number[];

  get fullName(): string {
    return `${this.firstName} ${this.lastName}`;
  }
}

@Entity('orders')
export class Order {
  @PrimaryGeneratedColumn() id!: number;
  // Indexed: Customer.orderIds (and every lookup of a customer's orders) selects by it.
  @Index() @Column({ name: 'customer_id' }) customerId!: number;
  // Eager: the payload needs the customer's name whenever an order is loaded.
  @ManyToOne(() => Customer, (customer) => customer.orders, { eager: true, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'customer_id' })
  customer!: Customer;
  @Column({ type: 'varchar', default: 'purchased' }) status!: OrderStatus;
  // Not part of the payload: changing it must never reach the API.
  @Column({ name: 'warehouse_code', default: 'W1' }) warehouseCode!: string;
}
