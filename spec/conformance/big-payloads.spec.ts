import { expect } from 'chai';
import { canonicalJson } from '../../lib';
import { Harness } from '../support/harness';
import type { OrderPayload } from '../support/order-sync';
import { ShopOrder, WORLDS } from '../support/orms';
import { ApiClient } from '../support/partner-api';

const DRAIN = { timeoutMs: 20_000 };

/** Payloads longer than MySQL's TEXT (65,535 bytes), the payload table's body column there unless widened. */
for (const world of WORLDS) {
  describe(`big payloads on ${world.orm} + ${world.kind}`, () => {
    let h: Harness;
    beforeEach(async () => { h = await new Harness(world, 'big').setUp(); });
    afterEach(async () => { await h.tearDown(); });

    /** The shop's machine with `notes()` in every payload, noting the order_status of each publish's ctx.previous. */
    function notingMachine(notes: () => string) {
      const previous: Array<string | undefined> = [];
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      const build = machine.build.bind(machine);
      machine.build = ((order: ShopOrder) => ({ ...build(order), notes: notes() })) as unknown as typeof machine.build;
      const publish = machine.publish.bind(machine);
      machine.publish = async (order: ShopOrder, payload: OrderPayload, ctx?: { previous?: unknown }) => {
        previous.push((ctx?.previous as OrderPayload | undefined)?.order_status);
        await publish(order, payload);
      };
      return { machine, previous };
    }

    it('a 200 KB payload is published once per change and keeps its digest; its body where the column holds it', async () => {
      let notes = 'é'.repeat(30_000); // 60,000 bytes in UTF-8: fits MySQL's TEXT, although 30,000 x 3 would not
      const { machine, previous } = notingMachine(() => notes);
      const worker = await h.startWorker({ machines: [machine] });
      const order = await h.order(await h.customer());
      await worker.drain(DRAIN);
      notes = 'x'.repeat(200_000);
      await h.update(order, { status: 'shipped' });
      await worker.drain(DRAIN);
      await h.update(order, { status: 'received' });
      await worker.drain(DRAIN);
      // Nothing changed: its digest was stored, so nothing is published again.
      await worker.resync(h.shop.OrderToApiSync);
      await worker.drain(DRAIN);

      expect(h.logger.errors()).to.deep.equal([]);
      expect(h.api.publishes(String(order.id)).map((r) => r.body?.order_status)).to.deep.equal(['purchased', 'shipped', 'received']);
      const narrow = world.kind === 'mariadb';
      const bytes = Buffer.byteLength(canonicalJson(h.api.publishes(String(order.id))[1].body));
      expect(previous).to.deep.equal([undefined, 'purchased', narrow ? undefined : 'shipped']);
      expect(h.logger.warnings().filter((w) => w.includes('body column'))).to.deep.equal(narrow ? [
        `OrderToApiSync: the payload of Order ${order.id} is ${bytes} bytes, longer than the payload table's body column ` +
        'holds (65535 bytes); it is stored without its body, so its next publish gets ctx.previous undefined (its digest ' +
        'and version are kept: it is not published again). Payloads this long are stored so from now on, and said only ' +
        'this once. To keep them, widen the column: ALTER TABLE sync_machine_payloads MODIFY body LONGTEXT NOT NULL (out ' +
        "of the ORM's schema sync, which would narrow it again); or set store: 'digest'.",
      ] : []);
      expect((await worker.subjectStatus(h.shop.OrderToApiSync, order.id)).published?.version).to.equal(3);
    });

    if (world.kind === 'mariadb') {
      it('a body column widened to LONGTEXT keeps a 200 KB body: the size is read at start', async () => {
        await h.w.sql('ALTER TABLE sync_machine_payloads MODIFY body LONGTEXT NOT NULL');
        const { machine, previous } = notingMachine(() => 'x'.repeat(200_000));
        const worker = await h.startWorker({ machines: [machine] });
        const order = await h.order(await h.customer());
        await worker.drain(DRAIN);
        await h.update(order, { status: 'shipped' });
        await worker.drain(DRAIN);
        expect(previous).to.deep.equal([undefined, 'purchased']);
        expect(h.logger.warnings().filter((w) => w.includes('body column'))).to.deep.equal([]);
        expect(h.logger.errors()).to.deep.equal([]);
      });
    }
  });
}
