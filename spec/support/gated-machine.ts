import { Build, ListenTo, Publish, SyncMachine } from '../../lib';
import { ApiClient, PartnerApi } from './partner-api';
import { Order } from './shop';

/** A machine whose first @Build waits until the test lets it go, so a test can act while a run holds its batch. */
export function gatedMachine(api: PartnerApi) {
  const gate = { entered: false, release: () => {} };
  @SyncMachine({ subject: Order, name: 'Gated' })
  @ListenTo(Order)
  class GatedSync {
    client = new ApiClient(api.url);
    @Build()
    async build(order: Order) {
      if (!gate.entered) {
        gate.entered = true;
        await new Promise<void>((resolve) => { gate.release = resolve; });
      }
      return { id: String(order.id), order_status: order.status };
    }
    @Publish()
    async publish(order: Order, payload: unknown) { await this.client.putOrder(String(order.id), payload); }
  }
  return { machine: new GatedSync(), gate };
}
