import { expect } from 'chai';
import { Harness } from '../support/harness';
import { ApiClient } from '../support/partner-api';
import { PrivateRedis } from './support/private-redis';

async function until(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A Redis that stops answering while a batch runs (SIGSTOP: its connections stay open) holds every run at its next
 * command. The slow batch's warning said "@Build or @Publish has not returned" of a partner that answered in 30 ms
 * (a trial); it says Redis now.
 */
describe('a slow batch\'s warning while Redis does not answer (own redis-server, SQLite)', function () {
  this.timeout(60_000);
  let redis: PrivateRedis;
  let h: Harness;
  beforeEach(async () => {
    redis = await PrivateRedis.create();
    h = await new Harness('sqlite', 'redis-silent').setUp();
  });
  afterEach(async () => {
    redis.thaw();
    await h.tearDown();
    await redis.destroy();
  });

  it('names Redis as what holds the batch, not the hooks; the batch goes on once it answers', async () => {
    const capture = await h.start({ redis: redis.url });
    const customer = await h.customer();
    const orders = [await h.order(customer), await h.order(customer)];
    await capture.close();
    const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
    const build = machine.build.bind(machine);
    let frozen = false;
    machine.build = (order) => {
      if (!frozen) { frozen = true; redis.freeze(); } // built at once: what comes next (the call's record) is Redis' part
      return build(order);
    };
    const worker = await h.startWorker({ machines: [machine], redis: redis.url, worker: { concurrency: 1, lockTtlMs: 1_500, stallIntervalMs: 500 } });
    await until(() => h.logger.warnings().some((w) => w.includes('still running after')));
    const said = h.logger.warnings().filter((w) => w.includes('still running after'));
    // One per batch: the two orders may be taken in one batch or in two (a loaded CI machine did), and the customer's
    // insert may still be mapping to its orders when Redis stops (CI's did), so find-subjects may say it too.
    expect(said.length).to.be.within(1, 3);
    for (const line of said) expect(line, line).to.match(new RegExp('^(ensure-publication of OrderToApiSync: Order \\d+(, Order \\d+)?|' +
      'find-subjects of OrderToApiSync: Customer \\d+) still running after \\d+ s: ' +
      `Redis at redis://127\\.0\\.0\\.1:${redis.port} has not answered for 2 s \\(a stopped process, or a network that drops packets\\?\\)\\. ` +
      'The runs wait for it at their next command, and go on when it answers; a subject whose lock expired meanwhile ' +
      'runs again \\(a call given ctx\\.signal is not sent stale\\)\\.$'));
    // Silent past more looks, then back: the runs that waited on it get their answers and go on; the look right after
    // blamed them on the hooks (two trials, right after a SIGCONT).
    await new Promise((r) => setTimeout(r, 3_500));
    redis.thaw();
    await worker.drain({ timeoutMs: 20_000 });
    for (const order of orders) expect(h.api.documents.get(String(order.id)), `Order ${order.id}`).to.not.equal(undefined);
    expect(h.logger.warnings().filter((w) => w.includes('has not returned')), 'no hook blamed').to.deep.equal([]);
  });

  it('an idle worker says once when Redis stops answering it, and once when it answers again', async () => {
    // A trial stopped Redis for 10 s mid-backfill: the partner idle, the workers silent (lockTtlMs 30 s: no batch
    // had run long enough to say it).
    await h.startWorker({ redis: redis.url });
    const lines = () => h.logger.lines.filter((l) => l.message.includes('this worker'));
    await new Promise((r) => setTimeout(r, 1_200));
    expect(lines(), 'nothing while it answers').to.deep.equal([]);
    redis.freeze();
    await until(() => lines().length > 0);
    await new Promise((r) => setTimeout(r, 2_500)); // more renewals due meanwhile: said once
    redis.thaw();
    await until(() => lines().length > 1);
    await new Promise((r) => setTimeout(r, 1_200));
    expect(lines().map((l) => l.level)).to.deep.equal(['warn', 'info']);
    // Looked at each renewal (every second): said at the first look 2 s or more after the renewal went out.
    expect(lines()[0].message).to.match(new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${redis.port} has not answered this ` +
      'worker for [23] s, with its connection open \\(a stopped process, or a network that drops packets\\?\\): its runs ' +
      'wait for it at their next command, and go on when it answers \\(said then\\)\\.$'));
    expect(lines()[1].message).to.match(new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${redis.port} answers this worker ` +
      'again, after [4-9]\\.\\d s: its runs go on\\.$'));
  });

  it('a Redis that is down (killed: the connection refused) is told as not connected, not as a stopped process', async () => {
    const capture = await h.start({ redis: redis.url });
    const order = await h.order(await h.customer());
    await capture.close();
    const machine = new h.shop.OrderToApiSync(new ApiClient(h.api.url));
    const publish = machine.publish.bind(machine);
    let killed: Promise<void> | undefined;
    machine.publish = async (row, payload) => {
      // Redis dies while the call is out, and the call outlives the lock: the look asks Redis before the hooks.
      killed ??= redis.stop();
      await new Promise((r) => setTimeout(r, 3_000));
      await publish(row, payload);
    };
    const worker = await h.startWorker({ machines: [machine], redis: redis.url, worker: { concurrency: 1, lockTtlMs: 1_500, stallIntervalMs: 500 } });
    await until(() => h.logger.warnings().some((w) => w.includes('still running after')));
    const said = h.logger.warnings().filter((w) => w.includes('still running after'));
    // A trial's kill -9 of Redis was told as "a stopped process, or a network that drops packets?".
    for (const line of said) expect(line, line).to.match(new RegExp(`^ensure-publication of OrderToApiSync: Order ${order.id} still ` +
      `running after \\d+ s: Redis at redis://127\\.0\\.0\\.1:${redis.port} is not connected \\(down, restarting, or refusing ` +
      'connections\\?\\); ioredis reconnects on its own\\. The runs wait for it at their next command'));
    await killed;
    await redis.start();
    await worker.drain({ timeoutMs: 20_000 });
    expect(h.api.documents.get(String(order.id))).to.not.equal(undefined);
  });
});

/**
 * The calls of the API against a Redis that is stopped: its connection stays open, so ioredis never gives up, and
 * status() waited for good (a trial's CLI took 22.8 s; here it outlasted 90 s).
 */
describe('calls of the API while Redis does not answer (own redis-server, SQLite)', function () {
  this.timeout(60_000);
  let redis: PrivateRedis;
  let h: Harness;
  beforeEach(async () => {
    redis = await PrivateRedis.create();
    h = await new Harness('sqlite', 'redis-silent-calls').setUp();
  });
  afterEach(async () => {
    redis.thaw();
    await h.tearDown();
    await redis.destroy();
  });

  it('reject after about 12 s, saying Redis did not answer and what was left undone', async () => {
    const sync = await h.start({ redis: redis.url });
    const order = await h.order(await h.customer());
    redis.freeze();
    const began = Date.now();
    const said = await Promise.all([
      sync.status(), sync.subjectStatus('OrderToApiSync', order.id), sync.notifyChanged(h.shop.Order, [order.id]),
      sync.retryFailed('OrderToApiSync'), sync.resync('OrderToApiSync', { ids: [order.id] }),
    ].map((call) => (call as Promise<unknown>).then(() => 'answered', (e: Error) => `${e.name}: ${e.message}`)));
    expect(Date.now() - began, 'bounded').to.be.within(11_000, 20_000);
    const because = `Redis at redis://127.0.0.1:${redis.port} did not answer (for 12 s, with its connection open: a stopped ` +
      'process, or a network that drops packets?)';
    expect(said).to.deep.equal([
      `RedisUnavailableError: status: ${because}: nothing was read. Start Redis or fix the \`redis\` option, then call it again.`,
      `RedisUnavailableError: subjectStatus(OrderToApiSync, ${order.id}): ${because}: nothing was read. Start Redis or fix the \`redis\` option, then call it again.`,
      `RedisUnavailableError: notifyChanged: ${because}: the 1 change(s) may not be recorded. Start Redis or fix the \`redis\` option, then call it again.`,
      `RedisUnavailableError: retryFailed(OrderToApiSync): ${because}: the failures it did not take are still recorded. Start Redis or fix the \`redis\` option, then call it again.`,
      `RedisUnavailableError: resync(OrderToApiSync): ${because}: the pages recorded before it are pending, the rest are not (a resync again costs no API call for the unchanged ones). Start Redis or fix the \`redis\` option, then call it again.`,
    ]);
    redis.thaw();
    expect((await sync.status())[0].machine).to.equal('OrderToApiSync'); // answers again
  });

  it('start() (and so every CLI command) fails after about 10 s, saying Redis did not answer', async () => {
    redis.freeze();
    const began = Date.now();
    const error = await h.start({ redis: redis.url }).then(() => undefined, (e: Error) => e);
    // ioredis' ready check and PING each waited their own 10 s: 22 s, "Command timed out".
    expect(Date.now() - began, 'bounded').to.be.within(9_000, 15_000);
    expect(error?.message).to.equal(`Cannot reach Redis at redis://127.0.0.1:${redis.port}: did not answer within 10 s, ` +
      'with its connection open: a stopped process, or a network that drops packets? Start Redis or fix the `redis` option.');
  });
});
