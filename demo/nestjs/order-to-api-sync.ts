import { Injectable } from '@nestjs/common';
import { Build, ListenTo, Publish, SubjectIdsFrom, SyncMachine, Unpublish, type PublishContext, type Change } from 'sync-machine';
import { ApiClient } from '../api-client';
import type { OrderPayload } from '../shop-port';
import { Customer, Order } from '../typeorm/shop';

/**
 * SPEC §1's machine as a Nest provider: `@Injectable()` so Nest builds it with its dependencies (the API client),
 * `@SyncMachine` so SyncMachineModule finds it. Nothing else registers it.
 */
@Injectable()
@SyncMachine({ subject: Order })
@ListenTo(Order)
@ListenTo(Customer, { fields: ['firstName', 'lastName'] })
export class OrderToApiSync {
  constructor(private readonly api: ApiClient) {}

  @SubjectIdsFrom(Customer)
  ordersOf(customer: Customer, _change: Change): number[] {
    return customer.orderIds;
  }

  @Build()
  build(order: Order): OrderPayload {
    return { id: String(order.id), customer_full_name: order.customer.fullName, order_status: order.status };
  }

  @Publish()
  async publish(order: Order, payload: OrderPayload, ctx?: PublishContext): Promise<void> {
    // ctx.timeout(ms): ctx.signal, which stops the call if this run can no longer prove it holds the order's lock
    // (it stalled past lockTtlMs), and also after 10 s, so that a partner that never answers fails it to be retried.
    await this.api.putOrder(String(order.id), payload, ctx?.timeout(10_000));
  }

  @Unpublish()
  async unpublish(subjectId: string): Promise<void> {
    await this.api.deleteOrder(subjectId);
  }
}
