import { expect } from 'chai';
import Redis from 'ioredis';
import { Build, type Change, ConfigurationError, ListenTo, Publish, PublishContext, SyncMachine } from '../../lib';
import { KeySpace } from '../../lib/redis/keys';
import { pickAdapter } from '../../lib/runtime/pick-adapter';
import { hungPublishMachine } from '../support/gated-machine';
import { FAST_WORKER, Harness } from '../support/harness';
import type { OrderPayload } from '../support/order-sync';
import { ShopCustomer, ShopOrder, WORLDS } from '../support/orms';
import { ApiClient } from '../support/partner-api';
import { REDIS_URL } from '../support/redis';

const DRAIN = { timeoutMs: 20_000 };

/** SPEC §6.1: runs that carry batches, on every ORM and database. */
for (const world of WORLDS) {
  describe(`runs carry batches on ${world.orm} + ${world.kind}`, () => {
    let h: Harness;
    let redis: Redis;
    beforeEach(async () => { h = await new Harness(world, 'batches').setUp(); redis = new Redis(REDIS_URL); });
    afterEach(async () => { redis.disconnect(); await h.tearDown(); });

    const stats = async () => redis.hgetall(new KeySpace(h.prefix).stats('OrderToApiSync'));
    /** Five orders written while no worker runs, so that one run takes them all. */
    async function fiveOrders(): Promise<ShopOrder[]> {
      const capture = await h.start();
      const customer = await h.customer();
      const orders: ShopOrder[] = [];
      for (let i = 0; i < 5; i++) orders.push(await h.order(customer));
      await capture.close();
      return orders;
    }

    it('one failing subject of a batch retries alone and ends in the failed record; the others publish at once', async () => {
      const orders = await fiveOrders();
      const doomed = String(orders[2].id);
      const attempts = new Map<string, number>();
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      const publish = machine.publish.bind(machine);
      machine.publish = async (order, payload) => {
        attempts.set(String(order.id), (attempts.get(String(order.id)) ?? 0) + 1);
        if (String(order.id) === doomed) throw new Error('the partner API refuses this one');
        await publish(order, payload);
      };
      const worker = await h.startWorker({ machines: [machine], worker: { concurrency: 2, retry: { attempts: 3, initialDelayMs: 150 } } });
      const started = Date.now();
      while (h.api.publishes().length < 4) await new Promise((r) => setTimeout(r, 5));
      // Not held back by the failing one's retries (150 + 300 ms of backoff).
      expect(Date.now() - started).to.be.below(1000);
      await worker.drain(DRAIN);
      expect(h.api.publishes().map((r) => r.id).sort()).to.deep.equal(orders.map((o) => String(o.id)).filter((id) => id !== doomed).sort());
      expect(Object.fromEntries(attempts)).to.deep.equal(Object.fromEntries(orders.map((o) => [String(o.id), String(o.id) === doomed ? 3 : 1])));
      const [status] = await worker.status();
      expect(status.failures.map((f) => [f.id, f.attempts])).to.deep.equal([[doomed, 3]]);
      expect(status.failures[0].error).to.equal(`OrderToApiSync.publish threw for Order ${doomed}: the partner API refuses this one`);
      expect((await stats())['ensure-publication:failed']).to.equal('3');

      // retryFailed runs it again from current data, with fresh attempts.
      machine.publish = publish;
      expect(await worker.retryFailed('OrderToApiSync')).to.deep.equal({ 'find-subjects': 0, 'ensure-publication': 1 });
      await worker.drain(DRAIN);
      expect(h.api.publishes(doomed)).to.have.length(1);
      expect((await worker.status())[0].failures).to.deep.equal([]);
    });

    it('retryFailed runs a changed row again with the request it failed with: its changed keys (and a removal\'s snapshot)', async () => {
      const seen: string[][] = [];
      let failing = false;
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      const ordersOf = machine.ordersOf.bind(machine);
      machine.ordersOf = ((customer: ShopCustomer, change: Change) => {
        seen.push(change.changedKeys);
        if (failing) throw new Error('the mapper cannot reach its lookup');
        return ordersOf(customer);
      }) as typeof machine.ordersOf;
      const worker = await h.startWorker({ machines: [machine], worker: { concurrency: 2, retry: { attempts: 2, initialDelayMs: 20 } } });
      const customer = await h.customer();
      const order = await h.order(customer);
      await worker.drain(DRAIN);
      seen.length = 0;
      failing = true;
      await h.w.updateCustomer(customer.id, { firstName: 'Renamed' });
      expect((await worker.drain(DRAIN)).failedChanges.map((f) => f.id)).to.deep.equal([String(customer.id)]);

      failing = false;
      expect(await worker.retryFailed('OrderToApiSync', { step: 'find-subjects' })).to.deep.equal({ 'find-subjects': 1 });
      await worker.drain(DRAIN);
      // Before, the retry ran with an empty request: no changed keys, and a removed row had no snapshot to map from.
      expect(seen).to.deep.equal([['firstName'], ['firstName'], ['firstName']]);
      expect(h.api.documents.get(String(order.id))?.customer_full_name).to.equal('Renamed Yang');
    });

    it('the retried failures of a batch are one warning, with the errors by kind; the last attempts name each subject', async () => {
      const orders = await fiveOrders();
      const doomed = orders.slice(1).map((o) => String(o.id));
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      const publish = machine.publish.bind(machine);
      machine.publish = async (order, payload) => {
        const id = String(order.id);
        if (id === doomed[3]) throw new Error('socket hang up');
        // Named as MikroORM names an entity: before, one kind per subject (a trial read "9 kinds" of one bug).
        // And a number of its own in each: alike but for their numbers (a trial read 25 kinds of one bug).
        if (doomed.includes(id)) throw new Error(`the partner API answered 500 for Order[${id}] (ref ${Number(id) * 7})`);
        await publish(order, payload);
      };
      const worker = await h.startWorker({ machines: [machine], worker: { concurrency: 2, retry: { attempts: 2, initialDelayMs: 100 } } });
      await worker.drain(DRAIN);
      // Before, one warning per subject: a partner failing 30% of a resync of 5,000 logged 2,136 of them.
      const retried = h.logger.warnings().filter((w) => / failed (and will retry|\(attempt)/.test(w));
      expect(retried, retried.join('\n')).to.have.length(1);
      const [line] = retried;
      expect(line, line).to.match(new RegExp('^ensure-publication of OrderToApiSync: 4 subjects failed and will retry \\(' +
        `(Order (${doomed.join('|')})(, )?){4}; attempt 1 of 2\\)\\. The errors: ` +
        '3 × "OrderToApiSync\\.publish threw for …: the partner API answered 500 for Order\\[…\\] \\(ref \\d+\\)" \\(their numbers differ\\); ' +
        '1 × "OrderToApiSync\\.publish threw for …: socket hang up"\\. ' +
        `The first: Order (${doomed.join('|')}) failed \\(attempt 1 of 2, will retry\\): OrderToApiSync\\.publish threw for Order \\d+: `));
      for (const id of doomed) expect(line).to.include(`Order ${id}`);
      // Their last attempts: one error line per batch that ended them, naming each (one by one when three or fewer).
      const last = h.logger.errors().filter((e) => e.includes('no retries left'));
      const named = last.flatMap((e) => [...e.matchAll(/Order (\d+)(?=[,;)]| and | failed)/g)].map((m) => m[1]));
      expect([...new Set(named)].sort(), last.join('\n')).to.deep.equal([...doomed].sort());
      for (const e of last) expect(e, e).to.include('attempt 2 of 2');
      expect(h.api.publishes().map((r) => r.id)).to.deep.equal([String(orders[0].id)]);
    });

    it('says which relations a loaded subject holds no value for: none where the ORM loads them eagerly', async () => {
      const order = await h.order(await h.customer());
      const adapter = pickAdapter(h.w.handle, h.logger);
      const info = adapter.describe(h.shop.Order)!;
      const [row] = (await adapter.load(h.shop.Order, [String(order.id)])).values();
      // The shop's customer is eager: a build's TypeError is not blamed on relations (a trial's was).
      expect(info.unloaded!(row)).to.deep.equal([]);
      const without = Object.assign(Object.create(Object.getPrototypeOf(row)), row) as Record<string, unknown>;
      delete without.customer;
      expect(info.unloaded!(without)).to.include('customer');
    });

    it('the last attempts of a batch, when more than three, are one error with the errors by kind', async () => {
      // Pending, one batch for the worker below; the customer first, uncaptured, so that her mapping adds no second run.
      const customer = await h.customer();
      const capture = await h.start();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(String((await h.order(customer)).id));
      await capture.close();
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      machine.build = ((order: ShopOrder) => { throw new Error(`total too large for Order[${order.id}]`); }) as never;
      const worker = await h.startWorker({ machines: [machine], worker: { concurrency: 5, retry: { attempts: 1, initialDelayMs: 10 } } });
      expect((await worker.drain(DRAIN)).failed.map((f) => f.subjectId).sort()).to.deep.equal([...ids].sort());
      // Before, one error per subject: a trial's bad deploy logged 2,565 of them.
      const last = h.logger.errors().filter((e) => e.includes('no retries left'));
      expect(last, last.join('\n')).to.have.length(1);
      expect(last[0]).to.match(new RegExp('^ensure-publication of OrderToApiSync: 5 subjects failed with no retries left \\(recorded as ' +
        'failed, see status\\(\\) and retryFailed\\(\\)\\) \\((Order \\d+(, | and )?){5}; attempt 1 of 1\\)\\. The errors: 5 × ' +
        '"OrderToApiSync\\.build threw for …: total too large for Order\\[…\\]"\\. The first: Order \\d+ failed \\(attempt 1 of 1, no ' +
        'retries left: recorded as failed, see status\\(\\) and retryFailed\\(\\)\\): OrderToApiSync\\.build threw for Order \\d+: total too large'));
      await worker.close();
    });

    it('a publish the API applied but the worker saw fail is sent again when the row goes back to its stored values', async () => {
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      // The document without the row's version column, so that a status changed and changed back builds the same payload.
      machine.build = ((order: ShopOrder) => ({ id: String(order.id), order_status: order.status })) as never;
      const publish = machine.publish.bind(machine);
      const sent: Array<[string, number]> = [];
      let applyThenFail = false;
      machine.publish = (async (order: ShopOrder, payload: OrderPayload, ctx: PublishContext) => {
        sent.push([payload.order_status, ctx.version]);
        await publish(order, payload);
        if (applyThenFail) {
          applyThenFail = false;
          throw new Error('client timeout after 1000 ms'); // the API has it: only the answer was lost
        }
      }) as never;
      const worker = await h.startWorker({ machines: [machine], worker: { concurrency: 2, retry: { attempts: 3, initialDelayMs: 1_000 } } });
      const order = await h.order(await h.customer(), { status: 'purchased' });
      await worker.drain(DRAIN);
      const id = String(order.id);
      const lastStatus = () => h.api.documents.get(id)?.order_status;
      expect(lastStatus()).to.equal('purchased');

      applyThenFail = true;
      await h.update(order, { status: 'shipped' });
      while (sent.length < 2 || applyThenFail) await new Promise((r) => setTimeout(r, 5));
      expect(lastStatus(), 'the API applied the call that failed').to.equal('shipped');
      await h.update(order, { status: 'purchased' }); // back to the stored payload, before the retry
      await worker.drain(DRAIN);
      expect(lastStatus(), 'what the API holds once drained').to.equal('purchased');
      // Two payloads never share a version: the failed call may have reached the API with 2.
      expect(sent).to.deep.equal([['purchased', 1], ['shipped', 2], ['purchased', 3]]);

      // Stored: nothing is left uncertain, and a resync finds it unchanged.
      await worker.resync('OrderToApiSync', { ids: [id] });
      expect((await worker.drain(DRAIN)).outcomes).to.deep.equal({ unchanged: 1 });
      expect(sent).to.have.length(3);

      // A first publish of unknown outcome, then the order is no longer publishable: it is unpublished all the same.
      applyThenFail = true;
      const draft = await h.order(await h.customer(), { status: 'purchased' });
      while (!h.api.documents.has(String(draft.id)) || applyThenFail) await new Promise((r) => setTimeout(r, 5));
      await h.update(draft, { status: 'draft' });
      const { outcomes } = await worker.drain(DRAIN);
      expect(h.api.documents.has(String(draft.id)), 'the API no longer holds the draft').to.equal(false);
      expect(outcomes.unpublished).to.equal(1);
    });

    it('two calls of unknown outcome in a row: the API ends on the stored payload, and versions never go back', async () => {
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      machine.build = ((order: ShopOrder) => ({ id: String(order.id), order_status: order.status })) as never;
      const publish = machine.publish.bind(machine);
      const sent: Array<[string, number]> = [];
      /** What the next calls do: apply and lose the answer, or time out without reaching the API. */
      const plan: Array<'applied' | 'lost'> = [];
      machine.publish = (async (order: ShopOrder, payload: OrderPayload, ctx: PublishContext) => {
        sent.push([payload.order_status, ctx.version]);
        const fault = plan.shift();
        if (fault !== 'lost') await publish(order, payload);
        if (fault) throw new Error(`client timeout after 1000 ms (${fault})`);
      }) as never;
      const worker = await h.startWorker({ machines: [machine], worker: { concurrency: 2, retry: { attempts: 5, initialDelayMs: 300 } } });
      const order = await h.order(await h.customer(), { status: 'purchased' });
      await worker.drain(DRAIN);
      const id = String(order.id);
      const lastStatus = () => h.api.documents.get(id)?.order_status;
      const lastVersion = () => Math.max(...sent.map(([, version]) => version));
      const callsMade = async (n: number) => { while (sent.length < n) await new Promise((r) => setTimeout(r, 5)); };

      // shipped reaches the API, its answer is lost; back to the stored values, and that call never arrives.
      plan.push('applied', 'lost');
      await h.update(order, { status: 'shipped' });
      await callsMade(2);
      await h.update(order, { status: 'purchased' });
      await callsMade(3);
      await worker.drain(DRAIN);
      expect(lastStatus(), 'the API holds the stored payload, not the first lost answer\'s').to.equal('purchased');
      expect(sent.slice(0, 3)).to.deep.equal([['purchased', 1], ['shipped', 2], ['purchased', 3]]);
      // The retry of the payload that may not have arrived keeps its version (and idempotency key).
      expect(sent.slice(3)).to.deep.equal([['purchased', 3]]);
      // The log says the failed calls may have been applied, and why the stored payload went out again.
      // Warnings: both calls are retried (the last attempt of a subject is the error).
      const failures = h.logger.warnings().filter((e) => e.includes(`for Order ${id}`) && e.includes(' failed (attempt '));
      expect(failures.map((e) => /If @Publish made its call before it threw, the call \(version (\d+)\) may have reached the API all the same\. Its retry/.exec(e)?.[1]), failures.join('\n'))
        .to.deep.equal(['2', '3']);
      // What a retry does is explained once per machine; no retried attempt is an error.
      expect(failures[0]).to.include('with the same version and idempotency key');
      expect(failures[1]).to.include('(as said above)').and.not.include('idempotency key');
      expect(h.logger.errors().filter((e) => e.includes(`for Order ${id}`)), h.logger.errors().join('\n')).to.deep.equal([]);
      expect(h.logger.infos().filter((e) => e.includes(`sent the stored payload again to Order ${id} (version 3): an earlier call of unknown outcome`)))
        .to.have.length(1, h.logger.infos().join('\n'));

      // Both calls reach the API and lose their answers: the last one is a payload the store already holds.
      plan.push('applied', 'applied');
      await h.update(order, { status: 'shipped' });
      await callsMade(5);
      await h.update(order, { status: 'purchased' });
      await callsMade(6);
      await worker.drain(DRAIN);
      const highest = lastVersion();
      await h.update(order, { status: 'cancelled' });
      await worker.drain(DRAIN);
      expect(lastStatus()).to.equal('cancelled');
      const versions = sent.map(([, version]) => version);
      expect(versions.slice(-1)[0], `the next payload goes out above every version sent before (${JSON.stringify(sent)})`).to.be.above(highest);
      for (let i = 1; i < sent.length; i++) {
        if (sent[i][0] !== sent[i - 1][0]) expect(versions[i], JSON.stringify(sent)).to.be.above(versions[i - 1]);
      }
      await worker.resync('OrderToApiSync', { ids: [id] });
      expect((await worker.drain(DRAIN)).outcomes).to.deep.equal({ unchanged: 1 });

      // Removed while its last publish's outcome is not known: the unpublish goes out above that publish's version.
      const unpublished: number[] = [];
      const unpublish = machine.unpublish.bind(machine);
      machine.unpublish = (async (subjectId: string, last: unknown, ctx: PublishContext) => {
        unpublished.push(ctx.version);
        await unpublish(subjectId);
      }) as never;
      plan.push('applied');
      const calls = sent.length;
      await h.update(order, { status: 'shipped' });
      await callsMade(calls + 1);
      await h.w.removeOrder(order.id);
      await worker.drain(DRAIN);
      expect(h.api.documents.has(id), 'the API no longer holds it').to.equal(false);
      expect(unpublished, JSON.stringify(sent)).to.deep.equal([sent[calls][1] + 1]);
    });

    it('@Build runs once per subject and run, sync or async, throwing or not; an unchanged one ends unless forced', async () => {
      const orders = await fiveOrders();
      const [plain, asynchronous, throwing, rejecting] = orders.map((o) => String(o.id));
      let calls = 0;
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      const build = machine.build.bind(machine);
      machine.build = ((order: ShopOrder) => {
        calls += 1;
        const id = String(order.id);
        if (id === throwing) throw new Error('no payload for this one');
        if (id === rejecting) return Promise.reject(new Error('not yet'));
        return id === asynchronous ? Promise.resolve(build(order)) : build(order);
      }) as typeof machine.build;
      /** Subject runs so far, from the counters: each calls @Build once (nothing is locked elsewhere here). */
      const runs = async () => {
        const s = await stats();
        return ['published', 'unchanged', 'failed'].reduce((sum, o) => sum + Number(s[`ensure-publication:${o}`] ?? 0), 0);
      };
      const worker = await h.startWorker({ machines: [machine], worker: { retry: { attempts: 1, initialDelayMs: 10 } } });
      await worker.drain(DRAIN);
      const good = orders.map((o) => String(o.id)).filter((id) => id !== throwing && id !== rejecting);
      expect(h.api.publishes().map((r) => r.id).sort()).to.deep.equal([...good].sort());
      expect(calls).to.equal(await runs());
      const failures = Object.fromEntries((await worker.status())[0].failures.map((f) => [f.id, f.error]));
      expect(failures).to.deep.equal({
        [throwing]: `OrderToApiSync.build threw for Order ${throwing}: no payload for this one`,
        [rejecting]: `OrderToApiSync.build threw for Order ${rejecting}: not yet`,
      });

      const [callsBefore, before] = [calls, await stats()];
      await worker.resync(h.shop.OrderToApiSync);
      await worker.drain(DRAIN);
      const after = await stats();
      const added = (o: string) => Number(after[`ensure-publication:${o}`] ?? 0) - Number(before[`ensure-publication:${o}`] ?? 0);
      expect([added('unchanged'), added('failed'), added('published')]).to.deep.equal([3, 2, 0]);
      expect(calls - callsBefore).to.equal(5);
      expect(h.api.publishes()).to.have.length(3);

      await worker.resync(h.shop.OrderToApiSync, { ids: [plain], force: true });
      await worker.drain(DRAIN);
      expect(h.api.publishes(plain)).to.have.length(2);
      expect(calls - callsBefore).to.equal(6);
    });

    it('@CheckPublishable sync or async decides each subject once per run; @Build runs only for publishable ones', async () => {
      const orders = await fiveOrders();
      const [plain, later, refused, throwing, rejecting] = orders.map((o) => String(o.id));
      const checks = new Map<string, number>();
      const builds = new Map<string, number>();
      const count = (calls: Map<string, number>, id: string) => calls.set(id, (calls.get(id) ?? 0) + 1);
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      const build = machine.build.bind(machine);
      let laterPublishable = true;
      machine.isPublishable = ((order: ShopOrder) => {
        const id = String(order.id);
        count(checks, id);
        if (id === later) return new Promise((resolve) => setTimeout(() => resolve(laterPublishable), 20));
        if (id === refused) return Promise.resolve(false);
        if (id === throwing) throw new Error('cannot tell');
        if (id === rejecting) return Promise.reject(new Error('cannot tell yet'));
        return true;
      }) as typeof machine.isPublishable;
      machine.build = ((order: ShopOrder) => {
        count(builds, String(order.id));
        return Promise.resolve(build(order));
      }) as unknown as typeof machine.build;
      const worker = await h.startWorker({ machines: [machine], worker: { retry: { attempts: 1, initialDelayMs: 10 } } });
      await worker.drain(DRAIN);
      expect(h.api.publishes().map((r) => r.id).sort()).to.deep.equal([plain, later].sort());
      // Each subject ran as often as the others (its insert, then its customer's insert mapped to it): one check
      // per run, and a build only where the check said yes.
      const runs = checks.get(plain)!;
      expect(Object.fromEntries(checks)).to.deep.equal(Object.fromEntries(orders.map((o) => [String(o.id), runs])));
      expect(Object.fromEntries(builds)).to.deep.equal({ [plain]: runs, [later]: runs });
      const failures = Object.fromEntries((await worker.status())[0].failures.map((f) => [f.id, f.error]));
      expect(failures).to.deep.equal({
        [throwing]: `OrderToApiSync.isPublishable threw for Order ${throwing}: cannot tell`,
        [rejecting]: `OrderToApiSync.isPublishable threw for Order ${rejecting}: cannot tell yet`,
      });

      // Nothing changed: the two published ones end unchanged, the refused one stays unpublished.
      const before = await stats();
      await worker.resync(h.shop.OrderToApiSync);
      await worker.drain(DRAIN);
      const after = await stats();
      const added = (o: string) => Number(after[`ensure-publication:${o}`] ?? 0) - Number(before[`ensure-publication:${o}`] ?? 0);
      expect([added('unchanged'), added('not_publishable'), added('failed'), added('published')]).to.deep.equal([2, 1, 2, 0]);
      expect(h.api.publishes()).to.have.length(2);
      expect(Object.fromEntries(checks)).to.deep.equal(Object.fromEntries(orders.map((o) => [String(o.id), runs + 1])));
      expect(Object.fromEntries(builds)).to.deep.equal({ [plain]: runs + 1, [later]: runs + 1 });

      // An async "no" for a published subject unpublishes it, without a build.
      laterPublishable = false;
      await worker.resync(h.shop.OrderToApiSync, { ids: [later] });
      await worker.drain(DRAIN);
      expect(h.api.deletes().map((r) => r.id)).to.deep.equal([later]);
      expect(builds.get(later)).to.equal(runs + 1);
    });

    it('a slow async @Build holds back no other subject of its batch', async () => {
      const orders = await fiveOrders();
      const slow = String(orders[1].id);
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      const build = machine.build.bind(machine);
      // The slow build settles only once the other four are published (or after 5 s): had the batch waited for
      // it, they could not have been.
      let seenBySlow: number | undefined;
      machine.build = (async (order: ShopOrder) => {
        if (String(order.id) === slow && seenBySlow === undefined) {
          const until = Date.now() + 5_000;
          while (h.api.publishes().length < 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
          seenBySlow = h.api.publishes().length;
        }
        return build(order);
      }) as unknown as typeof machine.build;
      const worker = await h.startWorker({ machines: [machine] });
      await worker.drain(DRAIN);
      expect(seenBySlow).to.equal(4);
      expect(h.api.publishes(slow)).to.have.length(1);
      expect(h.api.publishes()).to.have.length(5);
    });

    it('a publish that hangs holds back no later change to the other subjects of its batch', async () => {
      const orders = await fiveOrders();
      const hung = String(orders[2].id);
      const [changed] = orders;
      // The partner API never answers this one, until the test lets it.
      const { machine, release } = hungPublishMachine(h.shop, h.api, hung);
      const worker = await h.startWorker({ machines: [machine] });
      try {
        while (h.api.publishes().length < 4) await new Promise((r) => setTimeout(r, 5));
        // The batch still runs (its hung publish); a later change to another of its subjects must not wait for it.
        await h.update(changed, { status: 'shipped' });
        const added = await h.order(await h.customer('Ann', 'Lee'));
        const until = Date.now() + 8_000;
        while ((h.api.publishes(String(changed.id)).length < 2 || h.api.publishes(String(added.id)).length < 1) && Date.now() < until) {
          await new Promise((r) => setTimeout(r, 10));
        }
        expect(h.api.publishes(String(added.id)), 'an order written during the hang').to.have.length(1);
        expect(h.api.publishes(String(changed.id)).map((r) => (r.body as unknown as OrderPayload).order_status)).to.deep.equal(['purchased', 'shipped']);
        expect(h.api.publishes(hung)).to.deep.equal([]);
        // Its run ends (and stops counting as pending) right after the API got its payload.
        const pending = async () => (await worker.subjectStatus(h.shop.OrderToApiSync, changed.id)).pending;
        for (const settledBy = Date.now() + 3_000; await pending() && Date.now() < settledBy;) await new Promise((r) => setTimeout(r, 10));
        expect(await pending()).to.equal(false);
      } finally {
        release();
      }
      await worker.drain(DRAIN);
      for (const order of orders) expect(h.api.publishes(String(order.id)), `order ${order.id}`).to.have.length(order === changed ? 2 : 1);
      expect(h.logger.errors()).to.deep.equal([]);
    });

    it('a @SubjectIdsFrom that hangs holds back no other changed row of its batch', async () => {
      const first = await h.startWorker();
      const [stuck, other] = [await h.customer('Stu', 'Ck'), await h.customer('Oth', 'Er')];
      const [stuckOrder, otherOrder] = [await h.order(stuck), await h.order(other)];
      await first.drain(DRAIN);
      await first.close();
      // Both renames wait in one batch of changed customers for the worker below.
      const capture = await h.start();
      await h.w.updateCustomer(stuck.id, { firstName: 'Stuart' });
      await h.w.updateCustomer(other.id, { firstName: 'Otto' });
      await capture.close();
      let release!: () => void;
      const released = new Promise<void>((resolve) => { release = resolve; });
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      const ordersOf = machine.ordersOf.bind(machine);
      machine.ordersOf = (async (customer: { id: number }) => {
        if (customer.id === stuck.id) await released; // a lookup that never answers, until the test lets it
        return ordersOf(customer as never);
      }) as unknown as typeof machine.ordersOf;
      const worker = await h.startWorker({ machines: [machine] });
      try {
        const until = Date.now() + 8_000;
        while (h.api.publishes(String(otherOrder.id)).length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
        expect(h.api.publishes(String(otherOrder.id)).map((r) => r.body?.customer_full_name)).to.deep.equal(['Oth Er', 'Otto Er']);
        expect(h.api.publishes(String(stuckOrder.id))).to.have.length(1);
      } finally {
        release();
      }
      await worker.drain(DRAIN);
      expect(h.api.publishes(String(stuckOrder.id)).map((r) => r.body?.customer_full_name)).to.deep.equal(['Stu Ck', 'Stuart Ck']);
      expect(h.logger.errors()).to.deep.equal([]);
    });

    it('each subject of a batch gets its own previous payload; unchanged ones beside them; an unpublish gets its last', async () => {
      const orders = await fiveOrders();
      const [shipped, received, untouched, moved, removed] = orders;
      const previous = new Map<string, unknown>();
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      const publish = machine.publish.bind(machine);
      machine.publish = async (order: ShopOrder, payload: OrderPayload, ctx?: PublishContext<OrderPayload>) => {
        previous.set(String(order.id), ctx!.previous?.order_status);
        await publish(order, payload);
      };
      machine.unpublish = async (id: string, last?: unknown) => {
        previous.set(id, (last as OrderPayload | undefined)?.order_status);
        await new ApiClient(h.api.url).deleteOrder(id);
      };
      const first = await h.startWorker({ machines: [machine] });
      await first.drain(DRAIN);
      expect([...previous.values()]).to.deep.equal([undefined, undefined, undefined, undefined, undefined]);
      await h.update(received, { status: 'shipped' }); // its stored payload differs from the others'
      await first.drain(DRAIN);
      expect(previous.get(String(received.id))).to.equal('purchased');
      await first.close();
      previous.clear();

      // Written while no worker runs: one run takes the four requests together.
      const capture = await h.start();
      await h.update(shipped, { status: 'shipped' });
      await h.update(received, { status: 'received' });
      await h.update(moved, { warehouseCode: 'W9' });
      await h.w.removeOrder(removed.id);
      await capture.close();
      const worker = await h.startWorker({ machines: [machine] });
      await worker.drain(DRAIN);
      expect(Object.fromEntries(previous)).to.deep.equal({
        [shipped.id]: 'purchased', [received.id]: 'shipped', [removed.id]: 'purchased',
      });
      expect(h.api.publishes(String(untouched.id))).to.have.length(1);
      expect(h.api.publishes(String(moved.id))).to.have.length(1);
    });

    it('subjects of a batch locked elsewhere stay pending and publish once the lock is gone; the rest go on', async () => {
      const orders = await fiveOrders();
      const locked = [String(orders[0].id), String(orders[3].id)];
      const now = Number((await redis.time())[0]) * 1000;
      for (const id of locked) await redis.hset(new KeySpace(h.prefix).locks('OrderToApiSync'), id, `elsewhere:x|${now + 1500}`);
      const worker = await h.startWorker();
      while (h.api.publishes().length < 3) await new Promise((r) => setTimeout(r, 5));
      expect(h.api.publishes().map((r) => r.id).sort()).to.deep.equal(orders.map((o) => String(o.id)).filter((id) => !locked.includes(id)).sort());
      await worker.drain(DRAIN);
      for (const order of orders) expect(h.api.publishes(String(order.id)), `order ${order.id}`).to.have.length(1);
      expect(Number((await stats())['ensure-publication:rescheduled'])).to.be.at.least(2);
      expect(h.logger.errors()).to.deep.equal([]);
    });

    /**
     * 300 orders to back-fill against a partner that takes 30 ms a call: each worker of the same machine sends its
     * calls as `sender`, and `calls(sender)` counts them.
     */
    async function slowBackfill() {
      const customer = await h.customer();
      await h.w.sql(`INSERT INTO orders (customer_id) VALUES ${Array.from({ length: 300 }, () => `(${customer.id})`).join(', ')}`);
      const ids: string[] = (await h.w.sql('SELECT id FROM orders')).map((row) => String(row.id));
      h.api.delayMs = 30;
      return {
        ids,
        machine: (sender: string) => new h.shop.OrderToApiSync(new ApiClient(h.api.url, sender)),
        calls: (sender: string) => h.api.publishes().filter((r) => r.sender === sender).length,
      };
    }

    it('a backfill of one batch spreads over two workers when the partner API is slow; each subject publishes once', async () => {
      const { ids, machine, calls } = await slowBackfill();
      // Before: the first worker's runs took all 300 (one batch) and published them 5 at a time, 1.8 s, while the
      // second had none.
      const worker = { ...FAST_WORKER, concurrency: 5 };
      const one = await h.startWorker({ machines: [machine('one')], worker });
      await h.startWorker({ machines: [machine('two')], worker });
      const workersSeen = async (runtime: typeof one) => (await runtime.status({ machines: ['OrderToApiSync'] }))[0].workers;
      expect(await workersSeen(one), 'workers on the roll').to.equal(2);
      await one.resync('OrderToApiSync');
      const { outcomes } = await one.drain({ timeoutMs: 60_000 });
      // Handed back is not an outcome: each subject counts once, where it published. status counts hand-backs apart.
      expect(outcomes).to.deep.equal({ published: 300 });
      const handedBack = async (runtime: typeof one) =>
        (await runtime.status({ machines: ['OrderToApiSync'] }))[0].outcomes['ensure-publication:handed_back'] ?? 0;
      const handedBefore = await handedBack(one);
      expect(handedBefore, 'subjects handed back').to.be.within(1, 300);
      for (const id of ids) expect(h.api.publishes(id), `order ${id}`).to.have.length(1);
      expect(h.api.maxInFlightPerId).to.equal(1);
      expect(calls('one'), 'calls of worker one').to.be.at.least(60);
      expect(calls('two'), 'calls of worker two').to.be.at.least(60);
      expect(h.logger.errors()).to.deep.equal([]);

      // One worker alone with the same backlog hands nothing back: its own runs would take it again, to load and build
      // each subject twice (before, 113 of the 300 in one run). A worker that closed is off the roll at once.
      await h.stopRuntimes();
      const alone = await h.startWorker({ machines: [machine('alone')], worker });
      expect(await workersSeen(alone), 'workers on the roll after the two closed').to.equal(1);
      await alone.resync('OrderToApiSync', { force: true });
      expect((await alone.drain({ timeoutMs: 60_000 })).outcomes).to.deep.equal({ published: 300 });
      expect(await handedBack(alone) - handedBefore, 'subjects handed back by one worker alone').to.equal(0);
      for (const id of ids) expect(h.api.publishes(id), `order ${id}`).to.have.length(2);
      expect(calls('alone')).to.equal(300);
      expect(h.api.maxInFlightPerId).to.equal(1);
      expect(h.logger.errors()).to.deep.equal([]);
    });

    it('a worker started after a backfill was taken gets a share of it from the worker that took it', async () => {
      const { ids, machine, calls } = await slowBackfill();
      const worker = { ...FAST_WORKER, concurrency: 5 };
      const one = await h.startWorker({ machines: [machine('one')], worker });
      await one.resync('OrderToApiSync');
      while (calls('one') < 10) await new Promise((r) => setTimeout(r, 5)); // it took the batch: 1.8 s of calls alone
      // Before, the second worker held no ticket: what the first handed back, the first took back (0 calls here).
      await h.startWorker({ machines: [machine('two')], worker });
      expect((await one.drain({ timeoutMs: 60_000 })).outcomes).to.deep.equal({ published: 300 });
      for (const id of ids) expect(h.api.publishes(id), `order ${id}`).to.have.length(1);
      expect(h.api.maxInFlightPerId).to.equal(1);
      // Its share: 40-72 calls of 300 alone, 27-29 in a loaded parallel suite; 0 on the code before.
      expect(calls('two'), 'calls of the worker started later').to.be.at.least(10);
      expect(h.logger.errors()).to.deep.equal([]);
    });

    it('debounceMs coalesces a burst of single-write transactions while a worker is idle', async () => {
      @SyncMachine({ subject: h.shop.Order, name: 'OrderToApiSync', debounceMs: 1000 })
      class Debounced extends h.shop.OrderToApiSync {}
      const worker = await h.startWorker({ machines: [new Debounced(new ApiClient(h.api.url))] });
      const order = await h.order(await h.customer());
      await worker.drain(DRAIN);
      const before = h.api.publishes(String(order.id)).length;
      const burst = Date.now();
      for (let i = 1; i <= 30; i++) await h.update(order, { version: i, status: i % 2 ? 'shipped' : 'received' });
      const windows = Math.ceil((Date.now() - burst) / 1000); // a run at most once per window the burst spans
      await worker.drain(DRAIN);
      const sent = h.api.publishes(String(order.id)).slice(before).map((r) => r.body!.version);
      expect(sent.length, `publishes ${sent} for a burst over ${windows} windows`).to.be.within(1, windows);
      expect(sent[sent.length - 1]).to.equal(30);
    });

    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    /** A worker running the shop's machine with debounceMs 2000, and one order of one customer, published. */
    async function debouncedOrder() {
      @SyncMachine({ subject: h.shop.Order, name: 'OrderToApiSync', debounceMs: 2000 })
      class Debounced extends h.shop.OrderToApiSync {}
      const worker = await h.startWorker({ machines: [new Debounced(new ApiClient(h.api.url))] });
      const customer = await h.customer();
      const order = await h.order(customer);
      await worker.drain(DRAIN);
      return { worker, customer, order };
    }

    it('debounceMs counts from the change for subjects found from a related row, not again from its mapping', async () => {
      const { worker, customer, order } = await debouncedOrder();
      const sent = (name: string, status: string) => {
        const document = h.api.documents.get(String(order.id));
        return document?.customer_full_name === name && document.order_status === status;
      };
      const renamedAt = Date.now();
      await h.w.updateCustomer(customer.id, { firstName: 'Renamed' });
      while (!sent('Renamed Yang', 'purchased')) await sleep(10);
      // Before, the rename waited 2 s and its order 2 s more: 4 s and over (a trial: 10 s for debounceMs 5 s).
      expect(h.api.publishes(String(order.id)).at(-1)!.at - renamedAt).to.be.within(1_900, 3_300);

      // The order's own change after the rename: it is ready 2 s after the rename, its first pending change, not 2 s
      // after its own (a trial: 3.5 s for a change 1.5 s after the agent's, with 2 s).
      const againAt = Date.now();
      await h.w.updateCustomer(customer.id, { firstName: 'Again' });
      await sleep(1_000);
      await h.update(order, { status: 'shipped' });
      while (!sent('Again Yang', 'shipped')) await sleep(10);
      expect(h.api.publishes(String(order.id)).at(-1)!.at - againAt).to.be.within(1_900, 3_300);
    });

    it('debounceMs: a subject whose run loaded a related row\'s change is not run again for it, but is for a later one', async () => {
      const { worker, customer, order } = await debouncedOrder();
      const unchanged = async () => Number((await stats())['ensure-publication:unchanged'] ?? 0);
      const names = () => h.api.publishes(String(order.id)).map((r) => r.body!.customer_full_name);
      const before = { unchanged: await unchanged(), calls: names().length };

      // The order's own change, then its customer's in another commit: the order runs 2 s after its own, and its
      // customer's row is mapped to it 2 s after the rename, by when that run has loaded both. Before, it ran again
      // then and found its payload unchanged (a trial: 2,000 published, 4,000 unchanged).
      await h.update(order, { status: 'shipped' });
      await sleep(800);
      await h.w.updateCustomer(customer.id, { firstName: 'Renamed' });
      await worker.drain(DRAIN);
      expect(names().slice(before.calls)).to.deep.equal(['Renamed Yang']);
      expect(await unchanged() - before.unchanged, 'runs that found the order unchanged').to.equal(0);

      // The same, with a second rename after the order's run and before the customer's row is mapped: it merges into
      // the row's pending request, and the order runs again for it.
      await h.update(order, { status: 'received' });
      await sleep(800);
      await h.w.updateCustomer(customer.id, { firstName: 'Once' });
      while (names().length < before.calls + 2) await sleep(10);
      await h.w.updateCustomer(customer.id, { firstName: 'Twice' });
      await worker.drain(DRAIN);
      expect(names().slice(before.calls)).to.deep.equal(['Renamed Yang', 'Once Yang', 'Twice Yang']);
      expect(h.api.documents.get(String(order.id))!.order_status).to.equal('received');
      expect(h.logger.errors()).to.deep.equal([]);
    });

    it('single commits while a worker runs reuse its lingering run instead of making a ticket each', async () => {
      const worker = await h.startWorker();
      const order = await h.order(await h.customer());
      await worker.drain(DRAIN);
      const ticketsBefore = Number((await stats())['ensure-publication:jobs']);
      // Each commit lands after the previous one was published: before, every one of them made a ticket.
      for (let i = 1; i <= 12; i++) {
        await h.update(order, { version: i, status: i % 2 ? 'shipped' : 'received' });
        while (h.api.publishes(String(order.id)).length < i + 1) await new Promise((r) => setTimeout(r, 5));
      }
      await worker.drain(DRAIN);
      expect(h.api.publishes(String(order.id)).map((r) => r.body!.version)).to.deep.equal([0, ...Array.from({ length: 12 }, (_, i) => i + 1)]);
      expect(Number((await stats())['ensure-publication:jobs']) - ticketsBefore, 'tickets for 12 commits').to.be.at.most(2);
      expect(h.logger.errors()).to.deep.equal([]);
    });

    it('commits further apart than a second, as in a burst on a slow database, still reuse one lingering run', async () => {
      const worker = await h.startWorker();
      const order = await h.order(await h.customer());
      await worker.drain(DRAIN);
      const ticketsBefore = Number((await stats())['ensure-publication:jobs']);
      // Every ticket but one per step ends a second after it ran dry; that one stays until its budget ends. Before,
      // each of these commits made a ticket.
      for (let i = 1; i <= 3; i++) {
        await new Promise((r) => setTimeout(r, 1_300));
        await h.update(order, { version: i, status: i % 2 ? 'shipped' : 'received' });
        while (h.api.publishes(String(order.id)).length < i + 1) await new Promise((r) => setTimeout(r, 5));
      }
      await worker.drain(DRAIN);
      expect(h.api.publishes(String(order.id)).map((r) => r.body!.version)).to.deep.equal([0, 1, 2, 3]);
      expect(Number((await stats())['ensure-publication:jobs']) - ticketsBefore, 'tickets for 3 commits 1.3 s apart').to.be.at.most(1);
      expect(h.logger.errors()).to.deep.equal([]);
    });

    it('a store write that fails after its publish is tried again, not published again', async () => {
      const orders = await fiveOrders();
      const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
      const publish = machine.publish.bind(machine);
      let broken = false;
      machine.publish = async (order, payload) => {
        await publish(order, payload);
        if (broken) return;
        broken = true;
        // The payload table goes away for 1.2 s right after the first publish: the batch's store write fails for
        // longer than a few quick tries cover (SQLite under a steady writer refuses for seconds).
        await h.w.sql('ALTER TABLE sync_machine_payloads RENAME TO sync_machine_payloads_away');
        setTimeout(() => { void h.w.sql('ALTER TABLE sync_machine_payloads_away RENAME TO sync_machine_payloads'); }, 1_200);
      };
      const worker = await h.startWorker({ machines: [machine], worker: { concurrency: 1 } });
      await worker.drain(DRAIN);
      for (const order of orders) expect(h.api.publishes(String(order.id)), `order ${order.id}`).to.have.length(1);
      expect((await h.w.sql('SELECT subject_id FROM sync_machine_payloads')).map((r) => String(r.subject_id)).sort())
        .to.deep.equal(orders.map((o) => String(o.id)).sort());
      expect(h.logger.warnings().some((w) => /storing \d+ published payload\(s\) failed .*trying again/.test(w)), h.logger.warnings().join('\n')).to.equal(true);
      expect(h.logger.errors()).to.deep.equal([]);
    });

    it('runs read one batch at a time exactly where the driver queries on the event loop (better-sqlite3)', () => {
      // Interleaved there, the runs' reads held the loop together and Redis' answers to the other runs waited.
      expect(pickAdapter(h.w.handle, h.logger).blocksEventLoop).to.equal(world.kind === 'sqlite');
    });

    it('relations in the object form load with the subject; nested paths too', async () => {
      @SyncMachine({ subject: h.shop.Customer, name: 'CustomerOrders', relations: { orders: { customer: true } } })
      @ListenTo(h.shop.Customer)
      class CustomerOrders {
        @Build() build(customer: { id: number; orders: Iterable<{ id: number; customer: { id: number } }> }) {
          return { id: customer.id, orders: [...customer.orders].map((o) => `${o.id}/${o.customer.id}`).sort() };
        }
        @Publish() async publish(customer: { id: number }, payload: unknown) {
          await new ApiClient(h.api.url).putOrder(`c${customer.id}`, payload);
        }
      }
      const capture = await h.start();
      const customer = await h.customer();
      const orders = [await h.order(customer), await h.order(customer)];
      await capture.close();
      const worker = await h.start({ machines: [new CustomerOrders()], worker: { concurrency: 2 } });
      await worker.resync(CustomerOrders);
      await worker.drain(DRAIN);
      expect(h.api.documents.get(`c${customer.id}`)).to.deep.equal({ id: customer.id, orders: orders.map((o) => `${o.id}/${customer.id}`).sort() });
    });

    it('a batch of 1,000 subjects with 1,000 different related rows loads and publishes (batchSize 1000)', async () => {
      // One customer per order: TypeORM reads Customer.orderIds (@RelationId) with an OR term per customer, and
      // SQLite refuses an expression deeper than 1,000, so the adapter loads big batches in parts there.
      @SyncMachine({ subject: h.shop.Order, name: 'OrderToApiSync', batchSize: 1000 })
      class Wide extends h.shop.OrderToApiSync {}
      const values = Array.from({ length: 1000 }, (_, i) => `('First${i}', 'Last${i}', '')`).join(', ');
      await h.w.sql(`INSERT INTO customers (first_name, last_name, email) VALUES ${values}`);
      await h.w.sql('INSERT INTO orders (customer_id) SELECT id FROM customers');
      const worker = await h.startWorker({ machines: [new Wide(new ApiClient(h.api.url))] });
      await worker.resync(Wide);
      await worker.drain({ timeoutMs: 60_000 });
      const [status] = await worker.status();
      expect(status.failures).to.deep.equal([]);
      expect(h.api.publishes()).to.have.length(1000);
      const [first] = await h.w.sql('SELECT MIN(id) AS id FROM orders');
      expect(h.api.documents.get(String(first.id))).to.include({ customer_full_name: 'First0 Last0' });
    });

    it('refuses relations that name nothing at start, saying which relations exist', async () => {
      @SyncMachine({ subject: h.shop.Order, name: 'Misnamed', relations: { customer: { oders: true } } })
      @ListenTo(h.shop.Order)
      class Misnamed {
        @Build() build() { return {}; }
        @Publish() publish() {}
      }
      const error = await h.start({ machines: [new Misnamed()] }).catch((e) => e);
      expect(error).to.be.instanceOf(ConfigurationError);
      expect(error.message).to.equal('Misnamed: @SyncMachine({ relations }) names "customer.oders", but Customer has no ' +
        'relation "oders" (its relations: orders): fix the name, or drop it from `relations`.');
      @SyncMachine({ subject: h.shop.Order, name: 'Listed', relations: ['customer', 7] as never })
      @ListenTo(h.shop.Order)
      class Listed {
        @Build() build() { return {}; }
        @Publish() publish() {}
      }
      const listed = await h.start({ machines: [new Listed()] }).catch((e) => e);
      expect(listed.message).to.match(/^Listed: @SyncMachine\(\{ relations \}\) lists 7, which is not a relation path: write relations as/);
      @SyncMachine({ subject: h.shop.Order, name: 'Nested', relations: { customer: 'orders' } as never })
      @ListenTo(h.shop.Order)
      class Nested {
        @Build() build() { return {}; }
        @Publish() publish() {}
      }
      // Before, "@SyncMachine({ relations }) is "orders"", as if the whole option were that string (a trial).
      const nested = await h.start({ machines: [new Nested()] }).catch((e) => e);
      expect(nested.message).to.equal('Nested: @SyncMachine({ relations }) has "orders" at "customer", where true, an ' +
        'object of its relations (customer: { orders: true }) or an array of them goes: write relations as ' +
        "{ customer: true, lines: { product: true } } or as ['customer', 'lines.product'].");
    });
  });
}
