import { expect } from 'chai';
import Redis from 'ioredis';
import { SyncMachine } from '../../lib';
import { ApiClient } from '../support/partner-api';
import { Harness } from '../support/harness';
import { PrivateRedis } from './support/private-redis';

const MAXMEMORY_HINT = 'Redis is at its maxmemory and refuses writes: raise maxmemory (CONFIG SET maxmemory, and in ' +
  "redis.conf) or free memory, and keep maxmemory-policy noeviction (an evicting policy would drop sync-machine's keys " +
  'without a word)';

/** A Redis that answers but refuses writes (at its maxmemory): said as such, once per second of commits, with the fix. */
describe('Redis at its maxmemory (own redis-server)', function () {
  this.timeout(30_000);
  let redis: PrivateRedis;
  let h: Harness;
  let admin: Redis;
  beforeEach(async () => {
    redis = await PrivateRedis.create();
    admin = new Redis(redis.url);
    h = await new Harness('sqlite', 'maxmemory').setUp();
  });
  afterEach(async () => {
    await admin.config('SET', 'maxmemory', '0').catch(() => undefined);
    admin.disconnect();
    await h.tearDown();
    await redis.destroy();
  });

  it("capture names every dropped change in one line with the fix, and a worker's queues say it once a minute", async () => {
    // Debounced, so that the customer's change is ready for the worker's take only once Redis refuses writes.
    @SyncMachine({ subject: h.shop.Order, name: 'OrderToApiSync', debounceMs: 1_500 })
    class Debounced extends h.shop.OrderToApiSync {}
    const machines = [new Debounced(new ApiClient(h.api.url))];
    const worker = await h.startWorker({ redis: redis.url, machines });
    const customer = await h.customer();
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    const orders = [await h.order(customer), await h.order(customer), await h.order(customer)];

    const said = () => h.logger.errors().filter((e) => e.startsWith('Could not enqueue'));
    while (said().length === 0) await new Promise((r) => setTimeout(r, 50));
    // Before, one line per commit, each with only Redis' reply.
    expect(said(), said().join("\n")).to.have.length(1);
    const [head, tail] = said()[0].split(': Redis is at its maxmemory');
    expect(head).to.match(/^Could not enqueue 3 committed change\(s\) of 3 commits \(OOM command not allowed when used memory > 'maxmemory'\./);
    expect(`Redis is at its maxmemory${tail}`).to.equal(`${MAXMEMORY_HINT}); dropped: ` +
      `${orders.map((o) => `insert Order ${o.id}`).join(', ')}. Call notifyChanged() or resync() for them once Redis accepts them again.`);

    // The customer's change, recorded before: a worker's take (and Bee-Queue's stall check) writes, and is refused.
    const refused = () => h.logger.errors().filter((e) => !e.startsWith('Could not enqueue') && e.includes(MAXMEMORY_HINT));
    while (refused().length === 0) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 2_000));
    const redisErrors = h.logger.errors().filter((e) => e.includes('Redis error'));
    expect(redisErrors.length, 'Bee-Queue\'s refused scripts: said once a minute, not each time').to.be.at.most(1);

    await admin.config('SET', 'maxmemory', '0');
    await h.order(customer);
    await worker.drain({ timeoutMs: 10_000 });
    expect(said(), 'accepted again: nothing more dropped').to.have.length(1);
  });

  it('status reads on, an app process starts to read; resync and a worker\'s start say the refused write with its fix', async () => {
    const app = await h.start({ redis: redis.url }); // no worker: the order's change stays in the inbox
    const order = await h.order(await h.customer());
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    // Before: Redis' bare "OOM command not allowed when used memory > 'maxmemory'. script: …" for both (a trial).
    const [machine] = await app.status(); // its scripts delete first, which lets the rest run
    expect([machine.queues['find-subjects'].waiting, machine.queues['ensure-publication'].waiting]).to.deep.equal([1, 1]);
    const resync = await app.resync('OrderToApiSync', { ids: [order.id] }).then(() => 'answered', (e: Error) => e.message);
    const refused = `Redis at ${redis.url} refused a write (OOM command not allowed when used memory > 'maxmemory'`;
    expect(resync).to.satisfy((m: string) => m.startsWith(`resync(OrderToApiSync): ${refused}`), resync);
    expect(resync).to.satisfy((m: string) => m.endsWith(`): ${MAXMEMORY_HINT}. The pages recorded before it are ` +
      'pending, the rest are not (a resync again costs no API call for the unchanged ones); call it again then.'), resync);
    // A worker cannot start: its first write is refused, and said so, alone (a trial read "is unreachable" first).
    const errorsBefore = h.logger.errors().length;
    const started = await h.startWorker({ redis: redis.url }).then((w) => w.close().then(() => 'started'), (e: Error) => e.message);
    expect(started).to.equal(`${refused}): ${MAXMEMORY_HINT}.`);
    expect(h.logger.errors().slice(errorsBefore)).to.deep.equal([]);
    // An app process starts, to read (so `sync-machine status` and `diff`, which failed on the same refusal).
    const reader = await h.start({ redis: redis.url });
    expect(h.logger.warnings().filter((w) => w.includes('refuses writes'))).to.deep.equal([
      `SyncMachines.start: Redis at ${redis.url} refuses writes (OOM command not allowed when used memory > 'maxmemory'.): ` +
      `${MAXMEMORY_HINT}. Started anyway: status() and reconcile() read; the changes of commits are dropped, each named, ` +
      'until it takes writes again, and a worker cannot start.',
    ]);
    expect((await reader.status())[0].queues['ensure-publication'].waiting).to.equal(1);
    expect((await reader.reconcile('OrderToApiSync')).checked).to.equal(1);
    // Once Redis takes writes, its data-loss marker is set, so that a loss from then on is found by it too.
    const markers = () => admin.keys(`${h.prefix}:runtime:*`);
    const before = (await markers()).length;
    await admin.config('SET', 'maxmemory', '0');
    for (let waited = 0; (await markers()).length === before && waited < 8_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    expect((await markers()).length).to.equal(before + 1);
  });
});
