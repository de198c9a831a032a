import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { OrderStatus } from '../shop-port';
import { Customer, Order } from '../typeorm/shop';

/** The app's own service: plain TypeORM writes. It knows nothing of sync-machine; the capture sees its saves. */
@Injectable()
export class ShopService {
  constructor(private readonly dataSource: DataSource) {}

  async createCustomer(firstName: string, lastName: string): Promise<Customer> {
    return this.dataSource.getRepository(Customer).save({ firstName, lastName, email: '' });
  }

  async placeOrder(customerId: number): Promise<Order> {
    return this.dataSource.getRepository(Order).save({ customerId, status: 'purchased' });
  }

  async updateOrder(id: number, fields: { status?: OrderStatus; warehouseCode?: string }): Promise<void> {
    const orders = this.dataSource.getRepository(Order);
    await orders.save(Object.assign(await orders.findOneByOrFail({ id }), fields));
  }

  async renameCustomer(id: number, firstName: string, lastName: string): Promise<void> {
    const customers = this.dataSource.getRepository(Customer);
    await customers.save(Object.assign(await customers.findOneByOrFail({ id }), { firstName, lastName }));
  }
}
