import { Build, ListenTo, Publish, SyncMachine, type PublishContext } from '../../../lib';
import { ApiClient } from '../../support/partner-api';
import { Order } from '../../support/shop';

/** Blocks the event loop, as a CPU-bound hook does: no timer, no socket, no lock extension runs meanwhile. */
export function busyFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) { /* spin */ }
}

/**
 * Orders whose status says so stall their process: `stall-build` in @Build (before publishing), `stall-publish`
 * in @Publish right after the API answered (a lock lost *during* the publish), `stop-publish` in @Publish before
 * the call, by stopping the whole process (SIGSTOP, as a debugger, a VM freeze or `kill -STOP` would) until the
 * spec sends SIGCONT; `block-publish` in @Publish before the call, by blocking the event loop for twice `stallMs`
 * (as a stopped process would, but resuming on its own), then calling the API with ctx.signal. Every hook says
 * what it does on stdout, so the spec can follow two worker processes.
 */
export function stallMachine(apiUrl: string, stallMs: number, say: (line: string) => void = () => undefined) {
  @SyncMachine({ subject: Order, name: 'Stall' })
  @ListenTo(Order)
  class StallSync {
    client = new ApiClient(apiUrl);

    @Build()
    build(order: Order) {
      if (order.status === 'stall-build') {
        say(`stalling in build ${order.id}`);
        busyFor(stallMs);
        say(`stall over ${order.id}`);
      }
      return { id: String(order.id), order_status: order.status };
    }

    @Publish()
    async publish(order: Order, payload: { order_status: string }, ctx: PublishContext) {
      if (payload.order_status === 'stop-publish') {
        say(`stopping in publish ${order.id}`);
        process.kill(process.pid, 'SIGSTOP');
        say(`continued in publish ${order.id}`);
      }
      if (payload.order_status === 'block-publish') {
        say(`blocking in publish ${order.id}`);
        busyFor(stallMs * 2);
        say(`block over ${order.id} at ${Date.now()}`);
      }
      try {
        await this.client.putOrder(String(order.id), payload, ctx.signal);
      } catch (error) {
        if (ctx.signal.aborted) say(`aborted in publish ${order.id} ${payload.order_status}: ${(error as Error).message}`);
        throw error;
      }
      say(`published ${order.id} ${payload.order_status}`);
      if (payload.order_status === 'stall-publish') {
        say(`stalling in publish ${order.id}`);
        busyFor(stallMs);
        say(`stall over ${order.id}`);
      }
    }
  }
  return new StallSync();
}
