import {
  Build, CheckPublishable, ListenTo, Publish, SubjectIdsFrom, SyncMachine, Unpublish,
} from '../../lib';
import type { ApiClient } from './partner-api';
import { Customer, Order } from './shop';

export interface OrderPayload {
  id: string;
  customer_full_name: string;
  order_status: string;
  version: number;
}

/** SPEC §1's machine, as a user would write it. */
@SyncMachine({ subject: Order })
@ListenTo(Order)
@ListenTo(Customer, { fields: ['firstName', 'lastName'] })
export class OrderToApiSync {
  constructor(private readonly api: ApiClient) {}

  @SubjectIdsFrom(Customer)
  ordersOf(customer: Customer) {
    return customer.orderIds;
  }

  @CheckPublishable()
  isPublishable(order: Order) {
    return order.status !== 'draft';
  }

  @Build()
  build(order: Order): OrderPayload {
    return {
      id: String(order.id), customer_full_name: order.customer.fullName, order_status: order.status,
      version: order.version,
    };
  }

  @Publish()
  async publish(order: Order, payload: OrderPayload) {
    await this.api.putOrder(String(order.id), payload);
  }

  @Unpublish()
  async unpublish(subjectId: string) {
    await this.api.deleteOrder(subjectId);
  }
}
