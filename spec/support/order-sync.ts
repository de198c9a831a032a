import {
  Build, CheckPublishable, type EntityClass, ListenTo, Publish, SubjectIdsFrom, SyncMachine, Unpublish,
} from '../../lib';
import type { ApiClient } from './partner-api';
import type { ShopCustomer, ShopOrder } from './orms/world';

export interface OrderPayload {
  id: string;
  customer_full_name: string;
  order_status: string;
  version: number;
}

/**
 * SPEC §1's machine, as a user would write it, for the shop's entity classes of one ORM. The body reads only
 * what both ORMs' entities offer (`order.customer.fullName`, `customer.orderIds`), so it is written once.
 */
export function defineOrderSync(Customer: EntityClass, Order: EntityClass) {
  @SyncMachine({ subject: Order })
  @ListenTo(Order)
  @ListenTo(Customer, { fields: ['firstName', 'lastName'] })
  class OrderToApiSync {
    constructor(readonly api: ApiClient) {}

    @SubjectIdsFrom(Customer)
    ordersOf(customer: ShopCustomer) {
      return customer.orderIds;
    }

    @CheckPublishable()
    isPublishable(order: ShopOrder) {
      return order.status !== 'draft';
    }

    @Build()
    build(order: ShopOrder): OrderPayload {
      return {
        id: String(order.id), customer_full_name: order.customer.fullName, order_status: order.status,
        version: order.version,
      };
    }

    @Publish()
    async publish(order: ShopOrder, payload: OrderPayload) {
      await this.api.putOrder(String(order.id), payload);
    }

    @Unpublish()
    async unpublish(subjectId: string) {
      await this.api.deleteOrder(subjectId);
    }
  }
  return OrderToApiSync;
}

export type OrderSyncClass = ReturnType<typeof defineOrderSync>;
export type OrderToApiSync = InstanceType<OrderSyncClass>;
