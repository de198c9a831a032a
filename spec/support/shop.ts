import 'reflect-metadata';
import {
  Column, DeleteDateColumn, Entity, JoinColumn, ManyToOne, OneToMany, PrimaryGeneratedColumn, RelationId,
} from 'typeorm';

/** The seed's shop: Customers have Orders; the partner API knows Orders. */
@Entity('customers')
export class Customer {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ name: 'first_name' }) firstName!: string;
  @Column({ name: 'last_name' }) lastName!: string;
  @Column({ default: '' }) email!: string;
  @OneToMany(() => Order, (order) => order.customer) orders!: Order[];
  @RelationId((customer: Customer) => customer.orders) orderIds!: number[];

  get fullName(): string {
    return `${this.firstName} ${this.lastName}`;
  }
}

@Entity('orders')
export class Order {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ name: 'customer_id' }) customerId!: number;
  @ManyToOne(() => Customer, (customer) => customer.orders, { eager: true, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'customer_id' })
  customer!: Customer;
  @Column({ default: 'purchased' }) status!: string;
  @Column({ name: 'warehouse_code', default: 'W1' }) warehouseCode!: string;
  /** Bumped by tests on every write, so the API can tell newer payloads from older ones. */
  @Column({ default: 0 }) version!: number;
  @DeleteDateColumn({ name: 'deleted_at', nullable: true }) deletedAt!: Date | null;
}
