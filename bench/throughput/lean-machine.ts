import { Build, ListenTo, Publish, SyncMachine } from 'sync-machine';
import type { ApiClient } from '../../demo/api-client';
import { LeanOrder } from './entities';

export interface LeanOrderPayload {
  id: string;
  customer_id: string;
  order_status: string;
}

/**
 * A fresh app's machine: the payload is the order's own columns (no relation loaded), and `@Build` is async, as a
 * build is once it awaits anything. The bench measures its unchanged resyncs: a subject whose hooks return promises
 * went through a full run of its own to be found unchanged, until runs decided it when its promises settled.
 */
@SyncMachine({ subject: LeanOrder, name: 'LeanOrderSync' })
@ListenTo(LeanOrder)
export class LeanOrderSync {
  constructor(private readonly api: ApiClient) {}

  @Build()
  async build(order: LeanOrder): Promise<LeanOrderPayload> {
    return { id: String(order.id), customer_id: String(order.customerId), order_status: order.status };
  }

  @Publish()
  async publish(order: LeanOrder, payload: LeanOrderPayload): Promise<void> {
    await this.api.putOrder(String(order.id), payload);
  }
}
