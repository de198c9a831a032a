import { expect } from 'chai';
import BeeQueue from 'bee-queue';
import Redis from 'ioredis';
import { installScriptRecovery } from '../../lib/queue/script-recovery';
import { FAST_WORKER, Harness } from '../support/harness';
import type { ShopOrder } from '../support/orms';
import { PrivateRedis } from './support/private-redis';

const DRAIN = { timeoutMs: 20_000 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Redis restart with running processes (PostgreSQL)', function () {
  this.timeout(60_000);
  let redis: PrivateRedis;
  let h: Harness;
  beforeEach(async () => {
    redis = await PrivateRedis.create();
    h = await new Harness('postgres', 'restart').setUp();
  });
  afterEach(async () => {
    await h.tearDown();
    await redis.destroy();
  });

  it('publishes every change committed 1 s after a restart, retries and delayed jobs included, no process restarted', async () => {
    const worker = await h.startWorker({ redis: redis.url, worker: { ...FAST_WORKER, stallIntervalMs: 500 } });
    const capture = await h.start({ redis: redis.url });
    const customer = await h.customer();
    const orders: ShopOrder[] = [];
    for (let i = 0; i < 20; i += 1) orders.push(await h.order(customer));
    await capture.drain(DRAIN);
    expect(h.api.publishes()).to.have.length(20);

    await redis.restart(); // resolves once it answers again, its script cache empty
    await sleep(1000);
    h.api.failNext = 5; // the first publishes after the restart fail: their retries wait in the delayed set
    for (const order of orders) await h.update(order, { status: 'shipped' });
    await capture.drain(DRAIN);
    await worker.drain(DRAIN);

    const lastStatus = orders.map((o) => h.api.documents.get(String(o.id))?.order_status);
    expect(lastStatus).to.deep.equal(orders.map(() => 'shipped'));
    expect(h.api.publishes()).to.have.length(40);
    const errors = h.logger.errors().join('\n');
    expect(errors).not.to.match(/NOSCRIPT/);
    expect(errors).not.to.match(/Could not enqueue/);
    // Retried attempts are warnings: the retries did run.
    expect(h.logger.warnings().join('\n')).to.match(/failed \(attempt 1 of \d+, will retry\): .*partner API answered 503/);
    expect(errors).not.to.match(/came back without the data/); // its append-only file kept it
  });
});

describe('Redis restarted without its data (PostgreSQL)', function () {
  this.timeout(60_000);
  let redis: PrivateRedis;
  let h: Harness;
  beforeEach(async () => {
    redis = await PrivateRedis.create({ volatile: true });
    h = await new Harness('postgres', 'restart-empty').setUp();
  });
  afterEach(async () => {
    await h.tearDown();
    await redis.destroy();
  });

  it('says the pending work is gone and how to recover; the resync it names republishes what was lost', async () => {
    const capture = await h.start({ redis: redis.url });
    const customer = await h.customer();
    const orders = [await h.order(customer), await h.order(customer)]; // pending: no worker runs
    await redis.restart();
    const said = () => h.logger.errors().filter((e) => e.includes('came back without the data it held'));
    for (let waited = 0; said().length === 0; waited += 50) {
      if (waited > 10_000) throw new Error(`no data-loss error; errors: ${h.logger.errors().join(' | ')}`);
      await sleep(50);
    }
    expect(said()).to.have.length(1);
    expect(said()[0]).to.match(new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${redis.port} came back without the data it held .*` +
      'Run resync for OrderToApiSync \\(`npx sync-machine resync <Machine>`: unchanged subjects cost no API call\\); a publish ' +
      'that failed or timed out just before may still have reached the API unrecorded, which only `resync <Machine> --force` ' +
      'sends again \\(every subject, once\\)\\. And make Redis keep its data \\(appendonly yes\\)\\.$'));

    const worker = await h.startWorker({ redis: redis.url });
    // drain() resolves (nothing is pending) but says the loss: a trial's drain read clean with 2,999 subjects stale.
    const drained = await worker.drain(DRAIN);
    expect(h.api.publishes()).to.have.length(0); // the pending orders were lost with Redis' data
    expect(drained.dataLost.map((l) => l.machine)).to.deep.equal(['OrderToApiSync']);
    // status says it too, until a full resync: a trial read it clean after a loss, the log line missed.
    const [before] = await worker.status();
    expect(drained.dataLost[0].at).to.deep.equal(before.dataLost);
    expect(before.dataLost).to.be.instanceOf(Date);
    expect(Math.abs(before.dataLost!.getTime() - Date.now())).to.be.below(15_000);
    await capture.resync('OrderToApiSync', { ids: [orders[0].id] });
    expect((await worker.status())[0].dataLost, 'a resync of some ids leaves it').to.deep.equal(before.dataLost);
    await capture.resync('OrderToApiSync');
    expect((await worker.status())[0].dataLost, 'a full resync ends it').to.equal(undefined);
    expect((await worker.drain(DRAIN)).dataLost, 'and drain no longer says it').to.deep.equal([]);
    expect(h.api.publishes().map((p) => p.id).sort()).to.deep.equal(orders.map((o) => String(o.id)).sort());
  });

  it('a restart while no runtime was connected is told by the next runtime to start, when the machine had published', async () => {
    const first = await h.startWorker({ redis: redis.url });
    const customer = await h.customer();
    const published = await h.order(customer);
    await first.drain(DRAIN);
    await first.close();
    const capture = await h.start({ redis: redis.url });
    const lost = await h.order(customer); // pending: no worker runs
    await capture.close();
    await redis.restart(); // no runtime connected: no marker to miss
    expect(h.logger.errors()).to.deep.equal([]);

    const worker = await h.startWorker({ redis: redis.url });
    const said = h.logger.errors();
    // Before, nothing said it: a trial's 50 pending changes were gone, status and drain() read clean.
    expect(said).to.have.length(1);
    expect(said[0]).to.match(new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${redis.port} holds no record of OrderToApiSync \\(not even ` +
      'its counters\\) while the payload table holds subjects it published: either this prefix is new to this database, ' +
      'and nothing was lost \\(what is pending under the old prefix stays there; .*\\), or Redis lost the data it held while ' +
      'no runtime was connected .* Run resync for OrderToApiSync'));
    // A new prefix reads the same: --force is offered for a real loss only (a trial upgrading under a new prefix took it
    // as its step, and sent 2,500 calls, none needed).
    expect(said[0]).to.include('unchanged subjects cost no API call); under a new prefix that is all. If Redis did lose ' +
      'its data, a publish that failed or timed out just before may still have reached the API unrecorded, which only ' +
      '`resync <Machine> --force` sends again');
    // Found as a new prefix reads: drain and status say it may be one.
    expect((await worker.drain(DRAIN)).dataLost.map((l) => [l.machine, l.maybeNewPrefix])).to.deep.equal([['OrderToApiSync', true]]);
    expect((await worker.status())[0].dataLostMaybeNewPrefix).to.equal(true);
    // Another runtime that starts before anything is published says it again, and keeps when it was first found
    // (a trial's status moved it on with each start: "found ... (0 s ago)").
    const found = (await worker.status())[0].dataLost;
    await new Promise((r) => setTimeout(r, 20));
    await (await h.start({ redis: redis.url })).close();
    expect(h.logger.errors()).to.have.length(2);
    expect((await worker.status())[0].dataLost, 'when it was first found').to.deep.equal(found);
    // Found as a new prefix would read, and said with the same doubt: a trial's app, started under a new prefix as
    // the README's upgrade says, read "lost the data it held" as a fact at each call.
    expect(h.logger.errors()[1]).to.match(new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${redis.port} held no record of ` +
      'OrderToApiSync when a runtime looked at .* \\(said in status and drain until a full resync of OrderToApiSync\\), while ' +
      'the payload table held subjects it published: either this prefix is new to this database, and nothing was lost .*, ' +
      'or Redis lost the data it held, and changes recorded before then .* are gone, and the subjects they stood for may stay stale'));
    // Still with that doubt once the machine has run under this prefix (its counters are back): a trial read every
    // CLI command after its first worker under a new prefix say the loss as a fact.
    await h.update(published, { status: 'shipped' });
    await worker.drain(DRAIN);
    await (await h.start({ redis: redis.url })).close();
    expect(h.logger.errors()).to.have.length(3);
    expect(h.logger.errors()[2]).to.match(/held no record of OrderToApiSync when a runtime looked at .*: either this prefix is new to this database, and nothing was lost/);
    expect(h.logger.errors()[2]).to.include('under a new prefix that is all.');
    await worker.resync('OrderToApiSync');
    await worker.drain(DRAIN);
    // The published order twice (created, then shipped above), the lost one once.
    expect(h.api.publishes().map((p) => p.id).sort()).to.deep.equal([String(published.id), String(published.id), String(lost.id)].sort());
    expect((await worker.status())[0].dataLost, 'a full resync ends it').to.equal(undefined);
    // The next runtime finds the counters the runs wrote: nothing to say.
    await h.start({ redis: redis.url });
    expect(h.logger.errors()).to.have.length(3);
  });

  it('a new prefix on an empty database says nothing at start', async () => {
    await h.startWorker({ redis: redis.url });
    await h.start({ redis: redis.url });
    expect(h.logger.errors()).to.deep.equal([]);
  });

  it('a payload table that starts empty under counters that say the machine published is warned of, until it publishes', async () => {
    const first = await h.startWorker({ redis: redis.url });
    const customer = await h.customer();
    await h.order(customer);
    await first.drain(DRAIN);
    await first.close();
    // As a connection that now finds a new table (another schema) does: two trials' resyncs then published every
    // subject again, with versions from 1, and nothing said so.
    await h.ds.query('DELETE FROM sync_machine_payloads');
    const worker = await h.startWorker({ redis: redis.url });
    const said = h.logger.warnings().filter((w) => w.startsWith('The payload table'));
    expect(said).to.deep.equal([`The payload table, as this connection finds it, holds no subject of OrderToApiSync, ` +
      `while Redis at redis://127.0.0.1:${redis.port} counts 1 publish(es) of it: is it a new table (another schema or ` +
      'database than before)? Every subject would be published again, with ctx.version from 1. If the table it ' +
      'published to is elsewhere, point the connection there before a worker runs; if this one is meant to start ' +
      'empty, nothing is needed (this is said at each start until the first publish; tests that recreate their ' +
      'tables: a fresh prefix per run).']);
    expect(h.logger.errors(), 'not a data loss').to.deep.equal([]);
    await h.order(customer);
    await worker.drain(DRAIN);
    await h.start({ redis: redis.url });
    expect(h.logger.warnings().filter((w) => w.startsWith('The payload table')), 'once it published').to.have.length(1);
  });

  it('a FLUSHALL while connected is told too, within seconds, once per runtime', async () => {
    const capture = await h.start({ redis: redis.url });
    const worker = await h.startWorker({ redis: redis.url });
    await h.order(await h.customer());
    await worker.drain(DRAIN);
    const client = new Redis(redis.url);
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
    const said = () => h.logger.errors().filter((e) => e.includes('lost the data it held while connected'));
    for (let waited = 0; said().length < 2; waited += 100) {
      if (waited > 12_000) throw new Error(`${said().length} data-loss errors; errors: ${h.logger.errors().join(' | ')}`);
      await sleep(100);
    }
    await sleep(6_000); // another look of each runtime: said once
    expect(said()).to.have.length(2);
    expect(said()[0]).to.match(new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${redis.port} lost the data it held while connected \\(a FLUSHALL ` +
      'or FLUSHDB, or a failover to an empty replica at the same address\\): changes recorded and not yet run, .* Run resync for OrderToApiSync'));
    expect(h.logger.errors().filter((e) => e.includes('came back without'))).to.deep.equal([]);
    const found = (await capture.status())[0].dataLost;
    expect(found, 'status says it').to.be.instanceOf(Date);
    // A runtime that starts now finds no counters: it says the loss the others found, not one "while no runtime was
    // connected" (a trial read that as a second loss).
    await (await h.start({ redis: redis.url })).close();
    const atStart = h.logger.errors().slice(-1)[0];
    expect(atStart).to.match(new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${redis.port} lost the data it held, as a runtime ` +
      `found at ${found!.toISOString().replace(/\./g, '\\.')} \\(said in status and drain until a full resync of OrderToApiSync\\): ` +
      'changes recorded before then and not yet run, .* Run resync for OrderToApiSync'));
    expect(h.logger.errors().filter((e) => e.includes('while no runtime was connected'))).to.deep.equal([]);
    // Work since has written the machine's counters again; a runtime that starts then still says the loss, until the
    // full resync (a trial's workers started after it said nothing).
    await h.order(await h.customer());
    await worker.drain(DRAIN);
    const before = h.logger.errors().length;
    await (await h.start({ redis: redis.url })).close();
    expect(h.logger.errors().slice(before).map((e) => e.slice(0, 90))).to.deep.equal([
      `Redis at redis://127.0.0.1:${redis.port} lost the data it held, as a runtime found at ${found!.toISOString()} (said`.slice(0, 90)]);
    await capture.resync('OrderToApiSync');
    await worker.drain(DRAIN);
    await (await h.start({ redis: redis.url })).close();
    expect(h.logger.errors(), 'after the full resync, nothing').to.have.length(before + 1);
    await capture.close();
  });

  it('a drain() right after a FLUSHALL lists the loss: it looks before it resolves, not only every 5 s', async () => {
    const capture = await h.start({ redis: redis.url });
    const customer = await h.customer();
    for (let i = 0; i < 5; i++) await h.order(customer); // pending: no worker runs
    const client = new Redis(redis.url);
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
    // Before, it resolved within milliseconds with dataLost: [] while every one of these orders stayed stale (a trial).
    const { dataLost } = await capture.drain({ timeoutMs: 5_000 });
    expect(dataLost.map((d) => d.machine)).to.deep.equal(['OrderToApiSync']);
    expect(h.logger.errors().filter((e) => e.includes('lost the data it held while connected'))).to.have.length(1);
  });

  it('a worker running through the restart publishes the changes committed after it: new tickets are not taken for its old ones', async () => {
    // Direct capture's side of the outbox spec's "Redis restarted empty, with a worker running throughout": the
    // worker's runs from before the restart hold tickets whose ids Bee-Queue's counter, restarted, hands out again.
    const worker = await h.startWorker({ redis: redis.url, worker: { ...FAST_WORKER, stallIntervalMs: 500 } });
    const capture = await h.start({ redis: redis.url });
    const customer = await h.customer();
    const orders: ShopOrder[] = [];
    for (let i = 0; i < 6; i += 1) orders.push(await h.order(customer));
    await capture.drain(DRAIN);
    for (let round = 1; round <= 4; round += 1) {
      await redis.restart();
      await sleep(1000); // the runtimes' connections are back (a write before that is dropped, and said so)
      for (const order of orders) await h.update(order, { status: `shipped-${round}` });
      await capture.drain(DRAIN);
      await worker.drain(DRAIN);
      const lastStatus = orders.map((o) => h.api.documents.get(String(o.id))?.order_status);
      expect(lastStatus, `round ${round}`).to.deep.equal(orders.map(() => `shipped-${round}`));
    }
    expect(h.logger.infos().concat(h.logger.warnings()).filter((e) => e.includes('was taken after it had ended'))).to.deep.equal([]);
  });

});

describe('Bee-Queue script recovery after SCRIPT FLUSH', function () {
  this.timeout(30_000);
  let redis: PrivateRedis;
  let admin: Redis;
  let queue: BeeQueue;
  beforeEach(async () => {
    installScriptRecovery(); // what lib/pipeline/queues.ts does when it loads; idempotent
    redis = await PrivateRedis.create();
    admin = new Redis(redis.url);
    queue = new BeeQueue('recovery', {
      redis: { url: redis.url }, prefix: 'sm-recovery', getEvents: false, sendEvents: false,
      activateDelayedJobs: true, delayedDebounce: 10, removeOnSuccess: true, storeJobs: false, stallInterval: 200,
    });
    queue.on('error', () => undefined);
    await queue.ready();
  });
  afterEach(async () => {
    await queue.close(1000).catch(() => undefined);
    admin.disconnect();
    await redis.destroy();
  });

  it('saves, saves in batches, activates delayed jobs, checks stalls and removes jobs once the script cache is empty', async () => {
    const done: string[] = [];
    queue.process(4, async (job: BeeQueue.Job<{ n: string }>) => { done.push(job.data.n); });
    await admin.script('FLUSH');
    const single = await queue.createJob({ n: 'single' }).setId('single').save();
    expect(single.id).to.equal('single');

    await admin.script('FLUSH');
    const batch = [1, 2, 3].map((n) => queue.createJob({ n: `batch-${n}` }).setId(`batch-${n}`));
    const errors = await queue.saveAll(batch);
    expect([...errors.values()].map((e) => e.message)).to.deep.equal([]);
    expect(batch.map((j) => j.id)).to.deep.equal(['batch-1', 'batch-2', 'batch-3']);

    await admin.script('FLUSH');
    await queue.createJob({ n: 'delayed' }).setId('delayed').delayUntil(Date.now() + 300).save();
    await admin.script('FLUSH'); // activation runs later, after this flush
    const deadline = Date.now() + 5000;
    while (done.length < 5 && Date.now() < deadline) await sleep(20);
    expect([...done].sort()).to.deep.equal(['batch-1', 'batch-2', 'batch-3', 'delayed', 'single']);

    await admin.script('FLUSH');
    expect(await queue.checkStalledJobs()).to.equal(0);
    await admin.script('FLUSH');
    await queue.createJob({ n: 'gone' }).setId('gone').delayUntil(Date.now() + 60_000).save();
    await admin.script('FLUSH');
    await queue.removeJob('gone');
    expect(await admin.zcard('sm-recovery:recovery:delayed')).to.equal(0);
  });
});
