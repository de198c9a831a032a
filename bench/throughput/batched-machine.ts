import { Build, ListenTo, Publish, SyncMachine } from 'sync-machine';
import type { ApiClient } from '../../demo/api-client';
import type { OrderPayload } from '../../demo/shop-port';
import type { CustomerLoader } from './customer-loader';
import { LeanOrder } from './entities';

/**
 * The demo's OrderToApiSync written the batched way: the subject row comes without its customer, and @Build
 * fetches it through a DataLoader, so the builds a run calls concurrently share one customer query. Same payload
 * as the demo's machine. It listens to orders only: the bench never renames a customer.
 */
@SyncMachine({ subject: LeanOrder, name: 'BatchedOrderSync' })
@ListenTo(LeanOrder)
export class BatchedOrderSync {
  constructor(private readonly customers: CustomerLoader, private readonly api: ApiClient) {}

  @Build()
  async build(order: LeanOrder): Promise<OrderPayload> {
    const customer = await this.customers.load(order.customerId);
    return { id: String(order.id), customer_full_name: `${customer.firstName} ${customer.lastName}`, order_status: order.status };
  }

  @Publish()
  async publish(order: LeanOrder, payload: OrderPayload): Promise<void> {
    await this.api.putOrder(String(order.id), payload);
  }
}
