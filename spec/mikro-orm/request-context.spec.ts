import { expect } from 'chai';
import type { MikroORM } from '@mikro-orm/core';
import { Build, ListenTo, Publish, SubjectIdsFrom, SyncMachine } from '../../lib';
import { Harness } from '../support/harness';
import { mikroOrmWorld, type MikroOrmWorld } from '../support/orms/mikro-orm';
import { Customer, Order } from '../support/orms/mikro-orm-shop';

/**
 * Hooks that use the app's global EntityManager, as `@mikro-orm/nestjs` injects it (`allowGlobalContext: false`,
 * MikroORM's default): a worker's runs, and reconcile(), call them in a RequestContext of their own, as a request would.
 */
describe('MikroORM: hooks run in a RequestContext', () => {
  let h: Harness<MikroOrmWorld>;
  beforeEach(async () => { h = await new Harness(mikroOrmWorld('sqlite'), 'request-context').setUp(); });
  afterEach(async () => h.tearDown());

  it('an injected EntityManager finds rows in @SubjectIdsFrom and @Build, in workers and in reconcile()', async () => {
    const orm: MikroORM = h.w.handle;
    const sent: Array<{ id: string; orders: number }> = [];
    @SyncMachine({ subject: Customer, name: 'CustomerCard' })
    @ListenTo(Customer)
    @ListenTo(Order)
    class CustomerCard {
      @SubjectIdsFrom(Order)
      async customerOf(order: Order) {
        // The global EntityManager: outside a context, MikroORM refuses this find (a trial's every run failed).
        const found = await orm.em.findOneOrFail(Order, order.id, { populate: ['customer'] });
        return found.customer.id;
      }

      @Build()
      async build(customer: Customer) {
        return { id: String(customer.id), orders: await orm.em.count(Order, { customer: customer.id }) };
      }

      @Publish()
      publish(_customer: Customer, payload: { id: string; orders: number }) { sent.push(payload); }
    }
    const worker = await h.startWorker({ machines: [new CustomerCard()] });
    const customer = await h.customer();
    await h.order(customer);
    await h.order(customer);
    const { failed, failedChanges } = await worker.drain({ timeoutMs: 20_000 });
    expect([failed, failedChanges]).to.deep.equal([[], []]);
    expect(sent.at(-1)).to.deep.equal({ id: String(customer.id), orders: 2 });
    const report = await worker.reconcile(CustomerCard);
    expect([report.errors, report.unchanged]).to.deep.equal([[], 1]);
  });
});
