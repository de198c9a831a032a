import { Build, ListenTo, Publish, SubjectIdsFrom, SyncMachine, Unpublish, type PublishContext } from 'sync-machine';
import type { Change, Snapshot } from 'sync-machine';
import type { ApiClient } from '../api-client';
import type { OrderPayload } from '../shop-port';
import { Customer, Order } from './shop';

/** SPEC §1's machine on MikroORM: the TypeORM one, but for the way a Customer reaches its Orders. */
@SyncMachine({ subject: Order })
@ListenTo(Order)
// Only a name change can alter an order's payload; an email change must not cost a job.
@ListenTo(Customer, { fields: ['firstName', 'lastName'] })
export class OrderToApiSync {
  constructor(private readonly api: ApiClient) {}

  // The customer arrives in the worker's own fork, so her orders load on demand. A removed one arrives as a
  // snapshot, which has no collections: her orders' own removals are their changes.
  @SubjectIdsFrom(Customer)
  async ordersOf(customer: Customer | Snapshot<Customer>, _change: Change): Promise<number[]> {
    if (!('orders' in customer)) return [];
    return (await customer.orders.loadItems()).map((order) => order.id);
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
