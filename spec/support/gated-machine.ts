import { Build, ListenTo, Publish, SyncMachine } from '../../lib';
import type { OrderSyncClass } from './order-sync';
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

/**
 * The shop's machine whose publish of the subject `hung` does not return (a partner API on a socket without a
 * timeout) until the test calls `release()`; every other publish goes through.
 */
export function hungPublishMachine(shop: { OrderToApiSync: OrderSyncClass }, api: PartnerApi, hung: string) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => { release = resolve; });
  const machine = new shop.OrderToApiSync(new ApiClient(api.url));
  const publish = machine.publish.bind(machine);
  machine.publish = async (order, payload) => {
    if (String(order.id) === hung) await released;
    await publish(order, payload);
  };
  return { machine, release };
}
