import { expect } from 'chai';
import { PublishContext, SyncMachine } from '../../lib';
import { Harness } from '../support/harness';
import { ShopOrder, WORLDS } from '../support/orms';
import type { OrderPayload } from '../support/order-sync';
import { ApiClient } from '../support/partner-api';

const DRAIN = { timeoutMs: 30_000 };

/** SPEC §6.2: what @Publish gets, back-pressure from the partner API, and rate limits, on every ORM and database. */
for (const world of WORLDS) {
  describe(`publishing context and back-pressure on ${world.orm} + ${world.kind}`, () => {
    let h: Harness;
    beforeEach(async () => { h = await new Harness(world, 'publishing').setUp(); });
    afterEach(async () => h.tearDown());

    /** The SPEC's machine, one subject per run, so that two workers share the work. */
    const oneAtATime = (options: { rateLimit?: { max: number; perMs: number }; store?: 'body' | 'digest' } = {}) => {
      @SyncMachine({ subject: h.shop.Order, name: 'OrderToApiSync', batchSize: 1, ...options })
      class OneAtATime extends h.shop.OrderToApiSync {}
      return OneAtATime;
    };
    async function ordersWhileNoWorker(n: number): Promise<ShopOrder[]> {
      const capture = await h.start();
      const customer = await h.customer();
      const orders: ShopOrder[] = [];
      for (let i = 0; i < n; i++) orders.push(await h.order(customer));
      await capture.close();
      return orders;
    }

    it('a 429 with Retry-After pauses the machine on every worker, charges no attempt, fails nothing, then publishes all', async () => {
      const orders = await ordersWhileNoWorker(8);
      const Machine = oneAtATime();
      h.api.throttleNext = 1;
      h.api.retryAfterSeconds = 1;
      h.api.delayMs = 30;
      // When each worker decided to publish, and when the 429 reached the worker that got it.
      const calls: number[] = [];
      let throttledSeenAt = 0;
      const instrumented = () => {
        const machine = new Machine(new ApiClient(h.api.url));
        const publish = machine.publish.bind(machine);
        machine.publish = async (order: ShopOrder, payload: OrderPayload) => {
          calls.push(Date.now());
          try { await publish(order, payload); } catch (error) { throttledSeenAt ||= Date.now(); throw error; }
        };
        return machine;
      };
      const second = await h.w.connect();
      const a = await h.startWorker({ machines: [instrumented()], worker: { concurrency: 2, retry: { attempts: 1, initialDelayMs: 10 } } });
      await h.startWorker({ orm: second, machines: [instrumented()], worker: { concurrency: 2, retry: { attempts: 1, initialDelayMs: 10 } } });
      await a.drain(DRAIN);

      expect(h.api.throttledAt).to.have.length(1);
      // The other worker learns of the pause within 100 ms; after that, no publish until the pause ends.
      const during = calls.filter((t) => t > throttledSeenAt + 150 && t < throttledSeenAt + 950);
      expect(during, 'publishes begun during the pause').to.deep.equal([]);
      expect(h.api.publishes().map((r) => r.id).sort()).to.deep.equal(orders.map((o) => String(o.id)).sort());
      const [status] = await a.status();
      expect(status.failures).to.deep.equal([]);
      expect(status.outcomes['ensure-publication:failed']).to.equal(undefined); // attempts: 1, and none was charged
      expect(status.outcomes['ensure-publication:paused']).to.be.at.least(1);
      expect(h.logger.warnings().join('\n')).to.match(/partner API answered 429 to PUT \/orders\/\d+ \(retry after 1000 ms\); OneAtATime pauses publishing on every worker for 1000 ms/);
    });

    it('rateLimit holds across two workers: at most max publishes in any window', async () => {
      const orders = await ordersWhileNoWorker(9);
      const Machine = oneAtATime({ rateLimit: { max: 3, perMs: 1000 } });
      const second = await h.w.connect();
      const a = await h.startWorker({ machines: [new Machine(new ApiClient(h.api.url))], worker: { concurrency: 4 } });
      await h.startWorker({ orm: second, machines: [new Machine(new ApiClient(h.api.url))], worker: { concurrency: 4 } });
      await a.drain(DRAIN);
      const starts = h.api.publishes().map((r) => r.startedAt).sort((x, y) => x - y);
      expect(starts).to.have.length(orders.length);
      // Permits go 3 a second; arrivals at the API can be closer by what one request takes from its permit to the
      // API on this shared machine (a first connection's set-up, say): 300 ms of slack. Unlimited, all 9 take ~0.1 s.
      for (let i = 3; i < starts.length; i++) expect(starts[i] - starts[i - 3], `publishes ${i - 3}..${i}`).to.be.at.least(700);
      expect(starts[starts.length - 1] - starts[0]).to.be.at.least(1700);
    });

    it('with rateLimit, a 429 pauses the publishes that wait for a turn too: none reaches the API until the pause ends', async () => {
      const orders = await ordersWhileNoWorker(6);
      const Machine = oneAtATime({ rateLimit: { max: 2, perMs: 300 } });
      h.api.throttleNext = 1;
      h.api.retryAfterSeconds = 1;
      const worker = await h.startWorker({ machines: [new Machine(new ApiClient(h.api.url))], worker: { concurrency: 4 } });
      await worker.drain(DRAIN);
      expect(h.api.throttledAt).to.have.length(1);
      // Before, the publishes waiting for a turn went out one per turn through the pause (a trial: eight in 5 s). A
      // request sent beside the throttled one may still arrive just after its answer: not counted.
      const during = h.api.arrivals.filter((t) => t > h.api.throttledAt[0] + 100 && t < h.api.throttledAt[0] + 900);
      expect(during, 'requests that arrived during the pause').to.deep.equal([]);
      expect(h.api.publishes().map((r) => r.id).sort()).to.deep.equal(orders.map((o) => String(o.id)).sort());
    });

    it('passes the previous payload, a version, an idempotency key, the attempt and a signal; previous lets a machine move a document', async () => {
      const contexts: Array<PublishContext<OrderPayload>> = [];
      const signals: Array<[boolean, boolean]> = [];
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      // The partner keys documents by status here: a changed status moves the document, so the old one is deleted.
      machine.publish = async (order: ShopOrder, payload: OrderPayload, ctx?: PublishContext<OrderPayload>) => {
        contexts.push(ctx!);
        signals.push([ctx!.signal instanceof AbortSignal, ctx!.signal.aborted]);
        const client = new ApiClient(h.api.url);
        if (ctx!.previous && ctx!.previous.order_status !== payload.order_status) {
          await client.deleteOrder(`${ctx!.previous.order_status}-${order.id}`);
        }
        await client.putOrder(`${payload.order_status}-${order.id}`, payload);
      };
      const worker = await h.startWorker({ machines: [machine], worker: { concurrency: 2, retry: { attempts: 3, initialDelayMs: 20 } } });
      const order = await h.order(await h.customer());
      await worker.drain(DRAIN);
      h.api.failNext = 1; // the next publish fails once: its retry keeps the idempotency key
      await h.update(order, { status: 'shipped' });
      await worker.drain(DRAIN);
      await h.update(order, { status: 'received' });
      await worker.drain(DRAIN);
      await h.update(order, { status: 'shipped' }); // a payload sent before, sent again
      await worker.drain(DRAIN);

      expect(contexts.map((c) => [c.version, c.attempt, c.previous?.order_status])).to.deep.equal([
        [1, 1, undefined], [2, 1, 'purchased'], [2, 2, 'purchased'], [3, 1, 'shipped'], [4, 1, 'received'],
      ]);
      expect(contexts.every((c) => c.subjectId === String(order.id))).to.equal(true);
      expect(signals, 'ctx.signal: an AbortSignal, not aborted while the lock is held').to.deep.equal(signals.map(() => [true, false]));
      expect(contexts[1].idempotencyKey).to.equal(contexts[2].idempotencyKey);
      // Before, "shipped" sent again reused its first call's key: a partner that remembers keys took it for a replay
      // and kept "received" (a trial).
      expect(new Set(contexts.map((c) => c.idempotencyKey)).size).to.equal(4);
      expect([...h.api.documents.keys()]).to.deep.equal([`shipped-${order.id}`]);
      const [row] = await h.w.sql(`SELECT version FROM sync_machine_payloads WHERE subject_id = '${order.id}'`);
      expect(Number(row.version)).to.equal(4);
    });

    it('a forced resync after a call of unknown outcome goes above its version; a retry keeps it, and its key', async () => {
      // A partner holding another payload under the failed call's version (its record lost with Redis' data before the
      // loss was found) refused every retry for good, and resync --force, the README's way out, sent it again (a trial).
      const calls: Array<[number, string]> = [];
      let failing = false;
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      machine.publish = async (order: ShopOrder, payload: OrderPayload, ctx?: PublishContext<OrderPayload>) => {
        calls.push([ctx!.version, ctx!.idempotencyKey]);
        if (failing) throw new Error('the answer was lost');
        await new ApiClient(h.api.url).putOrder(String(order.id), payload);
      };
      const worker = await h.startWorker({ machines: [machine], worker: { concurrency: 2, retry: { attempts: 1, initialDelayMs: 20 } } });
      const order = await h.order(await h.customer());
      await worker.drain(DRAIN);
      failing = true;
      await h.update(order, { status: 'shipped' });
      await worker.drain(DRAIN);
      await worker.retryFailed('OrderToApiSync');
      await worker.drain(DRAIN);
      failing = false;
      await worker.resync('OrderToApiSync', { ids: [order.id], force: true });
      await worker.drain(DRAIN);
      expect(calls.map(([version]) => version)).to.deep.equal([1, 2, 2, 3]);
      expect(calls[2][1], 'the retry: the same call again').to.equal(calls[1][1]);
      expect(calls[3][1], 'forced: a call of its own').to.not.equal(calls[1][1]);
      expect(h.api.documents.get(String(order.id))).to.include({ order_status: 'shipped' });
      expect((await worker.subjectStatus('OrderToApiSync', order.id)).published?.version).to.equal(3);
    });

    it("store: 'digest' keeps no payload at rest: previous and the unpublished payload are undefined", async () => {
      const seen: unknown[] = [];
      const Machine = oneAtATime({ store: 'digest' });
      const machine = new Machine(new ApiClient(h.api.url));
      const publish = machine.publish.bind(machine);
      machine.publish = async (order: ShopOrder, payload: OrderPayload, ctx?: PublishContext) => { seen.push(ctx!.previous); await publish(order, payload); };
      machine.unpublish = async (id: string, last?: unknown) => { seen.push(last); await new ApiClient(h.api.url).deleteOrder(id); };
      const worker = await h.startWorker({ machines: [machine] });
      const order = await h.order(await h.customer());
      await worker.drain(DRAIN);
      await h.update(order, { status: 'shipped' });
      await worker.drain(DRAIN);
      const [row] = await h.w.sql(`SELECT body, digest FROM sync_machine_payloads WHERE subject_id = '${order.id}'`);
      expect(row.body).to.equal('');
      expect(row.digest).to.match(/^[0-9a-f]{64}$/);
      await h.update(order, { warehouseCode: 'W9' });
      await worker.drain(DRAIN);
      expect(h.api.publishes(String(order.id))).to.have.length(2); // unchanged is still told by the digest
      await h.w.removeOrder(order.id);
      await worker.drain(DRAIN);
      expect(seen).to.deep.equal([undefined, undefined, undefined]);
      expect(h.api.deletes(String(order.id))).to.have.length(1);
    });
  });
}
