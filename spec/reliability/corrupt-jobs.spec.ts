import { expect } from 'chai';
import Redis from 'ioredis';
import type { SyncMachines } from '../../lib';
import { KeySpace } from '../../lib/redis/keys';
import { FAST_WORKER, Harness } from '../support/harness';
import { REDIS_URL } from '../support/redis';

/*
 * Run tickets (Bee-Queue jobs) whose stored envelope is corrupt, written straight into Bee-Queue's keys as a
 * buggy tool or a half-restored backup would. Each must end once in Bee-Queue's failed set, with an error that
 * names the queue, the job id and what was wrong, within one stall interval, and never be re-run or block drain().
 */

const STALL_MS = 1000;
const STEP = 'ensure-publication' as const;

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}

const CASES: Array<{ name: string; raw: string; problem: RegExp }> = [
  { name: 'not JSON', raw: '{"data": {"v": 2', problem: /\(the job hash value is not JSON\)/ },
  { name: 'JSON null', raw: 'null', problem: /\(the job hash value is null, not an object\)/ },
  { name: 'JSON array', raw: '[1,2]', problem: /\(the job hash value is an array, not an object\)/ },
  { name: 'options a string', raw: '{"data":{"v":2,"machine":"OrderToApiSync","step":"ensure-publication"},"options":"fast"}', problem: /\(options is the string "fast", not an object\)/ },
  { name: 'stacktraces not an array', raw: '{"data":{},"options":{"stacktraces":"boom"}}', problem: /\(options\.stacktraces is the string "boom", not an array\)/ },
  { name: 'retries a string', raw: '{"data":{},"options":{"retries":"3"}}', problem: /\(options\.retries is the string "3", not a number\)/ },
  { name: 'backoff delay a string', raw: '{"data":{},"options":{"retries":2,"backoff":{"strategy":"fixed","delay":"1s"}}}', problem: /\(options\.backoff\.delay is the string "1s", not a number\)/ },
];

describe('corrupt job envelopes (shared Redis, fresh prefix)', function () {
  this.timeout(60_000);
  let h: Harness;
  let redis: Redis;
  let worker: SyncMachines;
  let keys: KeySpace;
  const key = (suffix: 'jobs' | 'waiting' | 'active' | 'failed' | 'stalling') => keys.queueKey('OrderToApiSync', STEP, suffix);

  beforeEach(async () => {
    h = await new Harness('sqlite', 'corrupt-jobs').setUp();
    keys = new KeySpace(h.prefix);
    redis = new Redis(REDIS_URL);
    worker = await h.startWorker({ worker: { ...FAST_WORKER, stallIntervalMs: STALL_MS, lockTtlMs: 5000 } });
  });
  afterEach(async () => {
    redis.disconnect();
    await h.tearDown();
  });

  // The guard writes the failed set, then logs; the test's own connection can see the write a tick before the log.
  const failedAndLogged = (id: string) => async () =>
    (await redis.sismember(key('failed'), id)) === 1 && h.logger.errors().length > 0;

  async function plant(id: string, raw: string | null, list: 'waiting' | 'active'): Promise<void> {
    if (raw !== null) await redis.hset(key('jobs'), id, raw);
    await redis.lpush(key(list), id);
  }

  for (const c of CASES) {
    it(`fails a job whose envelope is ${c.name} once, naming queue, id and problem, and keeps working`, async () => {
      const id = `corrupt-${c.name.replace(/\W+/g, '-')}`;
      await plant(id, c.raw, 'waiting');
      const took = await until(failedAndLogged(id), STALL_MS);
      expect(took, 'ms until failed').to.be.below(STALL_MS);

      const errors = h.logger.errors();
      expect(errors).to.have.length(1);
      expect(errors[0]).to.match(new RegExp(`^Job ${id} in ${h.prefix}:OrderToApiSync:ensure-publication is corrupt `));
      expect(errors[0]).to.match(c.problem);
      expect(errors[0]).to.include('It was not run and stays in the failed set');

      // Out of the running lists, so no stall check brings it back; the failed record is readable.
      expect(await redis.lrange(key('waiting'), 0, -1)).to.not.include(id);
      expect(await redis.lrange(key('active'), 0, -1)).to.not.include(id);
      const [status] = await worker.status();
      expect(status.failedJobs).to.have.length(1);
      expect(status.failedJobs[0]).to.include({ queue: `${h.prefix}:OrderToApiSync:ensure-publication`, jobId: id });
      expect(status.failedJobs[0].error).to.match(c.problem);
      const stored = JSON.parse((await redis.hget(key('jobs'), id)) as string);
      expect(stored.data.corruptEnvelope).to.equal(c.raw);

      // drain() is not blocked, work goes on, and the job is not taken again over several stall intervals.
      const order = await h.order(await h.customer());
      await worker.drain({ timeoutMs: 10_000 });
      expect(h.api.publishes(String(order.id))).to.have.length(1);
      await new Promise((r) => setTimeout(r, STALL_MS * 2.5));
      expect(h.logger.errors()).to.have.length(1);
      expect(await redis.scard(key('failed'))).to.equal(1);

      // retryFailed drops it (there is nothing to run) instead of putting it back.
      await worker.retryFailed('OrderToApiSync');
      expect(await redis.scard(key('failed'))).to.equal(0);
      expect(await redis.hexists(key('jobs'), id)).to.equal(0);
    });
  }

  for (const [what, raw] of [['corrupt', 'garbage{not json'], ['not a ticket', JSON.stringify({ data: { subjectId: 5 }, options: {} })]]) {
    it(`a ${what} ticket that stood for pending work is failed, and that work gets a ticket of its own`, async () => {
      await worker.close();
      const customer = await h.customer(); // before capture starts: no mapping of it makes a ticket later
      const capture = await h.start();
      const orders = [await h.order(customer), await h.order(customer)]; // pending, with a ticket waiting
      const [ticket] = await redis.lrange(key('waiting'), 0, -1);
      expect(ticket, 'the capture made a ticket').to.be.a('string');
      await redis.hset(key('jobs'), ticket, raw);
      await h.startWorker({ worker: { ...FAST_WORKER, stallIntervalMs: STALL_MS, lockTtlMs: 5000 } });
      // Before, the orders waited for an unrelated change to make a ticket: the failed one still stood for them.
      await capture.drain({ timeoutMs: 10_000 });
      for (const order of orders) expect(h.api.publishes(String(order.id)), `Order ${order.id}`).to.have.length(1);
      expect(await redis.sismember(key('failed'), ticket)).to.equal(1);
    });
  }

  it('drops a queued id whose job hash entry is gone (the job ended elsewhere) quietly: not failed, not re-run', async () => {
    // What a stopped worker finds when it continues: Redis served its blocking pop while it was stopped, the stall
    // check handed the job to another worker, which ran it and removed it.
    await plant('ended-elsewhere', null, 'waiting');
    await until(async () => h.logger.infos().some((l) => l.includes('ended-elsewhere')), STALL_MS);
    expect(h.logger.infos().filter((l) => l.includes('ended-elsewhere'))).to.deep.equal([
      `Job ended-elsewhere in ${h.prefix}:OrderToApiSync:ensure-publication was taken after it had ended (its worker was ` +
      'stopped, or lost its connection to Redis, while another worker ran it); nothing to run, dropped.',
    ]);
    expect(await redis.lrange(key('active'), 0, -1)).to.not.include('ended-elsewhere');
    expect(await redis.lrange(key('waiting'), 0, -1)).to.not.include('ended-elsewhere');
    expect(await redis.scard(key('failed'))).to.equal(0);
    const order = await h.order(await h.customer());
    await worker.drain({ timeoutMs: 10_000 });
    expect(h.api.publishes(String(order.id))).to.have.length(1);
    await new Promise((r) => setTimeout(r, STALL_MS * 2.5));
    expect(h.logger.errors()).to.deep.equal([]);
    expect(h.logger.infos().filter((l) => l.includes('ended-elsewhere'))).to.have.length(1);
    expect((await worker.status())[0].failedJobs).to.deep.equal([]);
  });

  it('fails a corrupt job left in `active` by a dead worker within one stall interval', async () => {
    await plant('left-active', 'not json at all', 'active');
    // The stall check marks it at its next run and moves it back at the one after: two intervals, plus the time a
    // loaded machine takes to hand it to a worker again (3,011 ms was seen on a shared 2-core machine).
    const took = await until(failedAndLogged('left-active'), STALL_MS * 5);
    expect(took).to.be.below(STALL_MS * 5);
    expect(h.logger.errors()).to.have.length(1);
    expect(h.logger.errors()[0]).to.match(/^Job left-active in \S+ is corrupt \(the job hash value is not JSON\)/);
    await worker.drain({ timeoutMs: 10_000 });
  });

  it('fails a sound envelope whose data is not a ticket once, and status() shows it', async () => {
    await plant('not-a-ticket', JSON.stringify({ data: { subjectId: 5 }, options: { retries: 3 }, status: 'created', progress: 0 }), 'waiting');
    await until(failedAndLogged('not-a-ticket'), STALL_MS);
    const [status] = await worker.status();
    expect(status.failedJobs.map((j) => [j.jobId, j.error])).to.deep.equal([[
      'not-a-ticket', `Job not-a-ticket in ${h.prefix}:OrderToApiSync:ensure-publication is malformed (unknown version): ` +
      '{"subjectId":5}. Jobs are written by sync-machine itself; enqueue work with notifyChanged() or resync() instead of writing to its queues.',
    ]]);
    await new Promise((r) => setTimeout(r, STALL_MS * 2.5));
    expect(h.logger.errors()).to.have.length(1);
    await worker.drain({ timeoutMs: 10_000 });
  });
});
