import { Build, ListenTo, Publish, SubjectIdsFrom, SyncMachine, Unpublish, type PublishContext } from 'sync-machine';
import type { Change } from 'sync-machine';
import type { ApiClient } from '../api-client';
import type { OrderPayload } from '../shop-port';
import { Customer, Order } from './shop';

/** SPEC §1's machine: keeps the partner API's copy of every Order in step with the shop. */
@SyncMachine({ subject: Order })
@ListenTo(Order)
// Only a name change can alter an order's payload; an email change must not cost a job.
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
