import 'reflect-metadata';
import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import type { OrderStatus } from '../../demo/shop-port';

/** What the hand-written loops remember: the sha256 of the last payload they posted, per loop and order. */
@Entity('bench_digests')
export class BenchDigest {
  @PrimaryColumn({ type: 'varchar' }) name!: string;
  @PrimaryColumn({ name: 'subject_id', type: 'varchar' }) subjectId!: string;
  @Column({ type: 'varchar' }) digest!: string;
}

/*
 * The demo's `orders` and `customers` tables mapped without the eager join, for the batched-loads contenders:
 * an Order row alone, its customer fetched through a DataLoader. The demo's entities always join the customer
 * (eager), so a DataLoader on top of them would load every customer twice. Used only by a second DataSource
 * over the same database; its tables are made by the demo's entities.
 */
@Entity('customers')
export class LeanCustomer {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ name: 'first_name' }) firstName!: string;
  @Column({ name: 'last_name' }) lastName!: string;
}

@Entity('orders')
export class LeanOrder {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ name: 'customer_id' }) customerId!: number;
  @Column({ type: 'varchar' }) status!: OrderStatus;
}
