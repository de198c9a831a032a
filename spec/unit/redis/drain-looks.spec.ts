import { expect } from 'chai';
import { createServer, type AddressInfo } from 'node:net';
import Redis from 'ioredis';
import { KeySpace } from '../../../lib/redis/keys';
import { drainMachines, DrainScope } from '../../../lib/runtime/drain';
import { deleteKeys, freshPrefix, REDIS_URL } from '../../support/redis';

/** drain() against a real Redis, with this process' own runs played by `alsoBusy`. */
describe('drain() looks at the work sets in Redis only once this process has nothing in flight', () => {
  const prefix = freshPrefix('drain-looks');
  const keys = new KeySpace(prefix);
  let redis: Redis;
  /** Work-set reads sent to Redis (readBusy's pipelines of ZCARD, GET and HLEN). */
  let looks: number;
  beforeEach(() => {
    redis = new Redis(REDIS_URL);
    looks = 0;
    const pipeline = redis.pipeline.bind(redis);
    redis.pipeline = ((...args: Parameters<Redis['pipeline']>) => {
      const p = pipeline(...args);
      const zcard = p.zcard.bind(p);
      p.zcard = ((...a: Parameters<typeof p.zcard>) => {
        if (String(a[0]).endsWith(':pending')) looks += 1;
        return zcard(...a);
      }) as typeof p.zcard;
      return p;
    }) as Redis['pipeline'];
  });
  afterEach(async () => {
    redis.disconnect();
    await deleteKeys(prefix);
  });

  const scope = (inFlight: () => number): DrainScope => ({
    redis, keys, machines: [{ name: 'M', subject: 'Order' }], redisAt: REDIS_URL, hasWorker: true,
    captured: async () => undefined,
    alsoBusy: async () => (inFlight() > 0 ? [`${inFlight()} run(s) still in flight in this process`] : []),
    pauser: () => (ms) => new Promise((r) => setTimeout(r, ms)),
  });

  it('waits out local runs without reading Redis, then reads it (and still waits for what is pending there)', async () => {
    let runs = 3;
    const pending = keys.step('M', 'ensure-publication').pending;
    await redis.zadd(pending, 0, '7');
    const drained = drainMachines(scope(() => runs), 5_000);
    await new Promise((r) => setTimeout(r, 100));
    // Looking every 10 ms, as it did, drain() would have read them about ten times by now.
    expect(looks, 'work-set reads while runs were in flight here').to.equal(0);
    runs = 0;
    await new Promise((r) => setTimeout(r, 50));
    expect(looks, 'reads once nothing is in flight here').to.be.greaterThan(0);
    let resolved = false;
    void drained.then(() => { resolved = true; });
    await new Promise((r) => setTimeout(r, 50));
    expect(resolved, 'drain() resolved while an item was pending in Redis').to.equal(false);
    await redis.zrem(pending, '7');
    await drained;
  });

  it('times out naming the runs in flight here, and what waits in Redis from one look at the end', async () => {
    await redis.zadd(keys.step('M', 'ensure-publication').pending, 0, '7', 0, '8');
    const error = await drainMachines(scope(() => 2), 100).then(() => undefined, (e: Error) => e);
    expect(error?.message).to.match(new RegExp('^drain\\(\\) timed out after 100 ms; still busy: 2 run\\(s\\) still in flight ' +
      'in this process; M ensure-publication: 2 pending, 0 batch\\(es\\) in runs'));
    expect(looks, 'one look, for the message').to.equal(2);
  });
});

/** A client of the shared Redis and a fresh prefix for a describe block, its keys deleted after each test. */
function sharedRedis(label: string): { keys: KeySpace; redis: Redis } {
  const prefix = freshPrefix(label);
  const ctx = { keys: new KeySpace(prefix), redis: undefined as unknown as Redis };
  beforeEach(() => { ctx.redis = new Redis(REDIS_URL); });
  afterEach(async () => {
    ctx.redis.disconnect();
    await deleteKeys(prefix);
  });
  return ctx;
}

describe('drain() reports the failures recorded after its call, told apart to the microsecond', () => {
  const ctx = sharedRedis('drain-since');
  const { keys } = ctx;

  it('leaves out a failure recorded before the call even within its millisecond; a record without µs is compared in ms', async () => {
    const { redis } = ctx;
    const [seconds, micros] = await redis.time();
    const before = Number(seconds) * 1_000_000 + Number(micros);
    // Each record's `at` is a minute ahead, so a comparison in ms takes all three; only `us` tells them apart.
    const at = Math.floor(before / 1000) + 60_000;
    const record = (us?: number) => JSON.stringify({ error: 'boom', attempts: 2, at, ...(us ? { us: String(us) } : {}), step: 'ensure-publication' });
    await redis.hset(keys.step('M', 'ensure-publication').failed,
      'before-the-call', record(before), 'after-the-call', record(before + 60_000_000), 'older-version', record());
    const summary = await drainMachines({
      redis, keys, machines: [{ name: 'M', subject: 'Order' }], redisAt: REDIS_URL, hasWorker: true, captured: async () => undefined,
    }, 5_000);
    expect(summary.failed.map((f) => f.subjectId).sort()).to.deep.equal(['after-the-call', 'older-version']);
  });
});

/** drain()'s look for keys of the wrong type, which its reads of the work sets do not touch. */
describe('drain() names a key of the wrong type once a step\'s work has not moved', () => {
  const ctx = sharedRedis('drain-stuck');
  const { keys } = ctx;

  it('while another step\'s work set keeps moving (writes going on hid it from a trial)', async () => {
    const { redis } = ctx;
    const publications = keys.step('M', 'ensure-publication');
    await redis.zadd(publications.pending, 0, '1'); // stuck: no run can take it
    await redis.set(publications.inbox, 'not a list');
    const lookups = keys.step('M', 'find-subjects');
    let moving = true;
    const moves = (async () => {
      for (let i = 0; moving; i += 1) {
        await redis.zadd(lookups.pending, Date.now() + 60_000, `Customer:${i}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const started = Date.now();
    const error = await drainMachines({
      redis, keys, machines: [{ name: 'M', subject: 'Order', className: 'MSync' }], redisAt: REDIS_URL, hasWorker: true,
      captured: async () => undefined,
    }, 10_000).then(() => undefined, (e: Error) => e);
    moving = false;
    await moves;
    expect(Date.now() - started, 'about STUCK_MS, not the timeout').to.be.below(6_000);
    expect(error?.name, error?.message).to.equal('WrongKeyTypeError');
    expect(error?.message).to.equal(`drain(): work has not moved for 2 s, and Redis holds keys of the wrong type, which ` +
      `refuse the runs' scripts: ${publications.inbox} is a string, where sync-machine keeps a list: delete it (redis-cli DEL ` +
      `'${publications.inbox}'), then resync MSync.`);
  });
});

describe('drain() with a timeoutMs shorter than a look at Redis', () => {
  it('says the timeout may be the cause, not only Redis (a trial\'s drain({ timeoutMs: 1 }) blamed a healthy Redis)', async () => {
    // A server that takes the connection and never answers: a look that is not answered within the timeout, with no error.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const url = `redis://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null });
    try {
      const keys = new KeySpace(freshPrefix('drain-short'));
      const error = await drainMachines({
        redis, keys, machines: [{ name: 'M', subject: 'Order' }], redisAt: url, hasWorker: true, captured: async () => undefined,
      }, 50).then(() => undefined, (e: Error) => e);
      expect(error?.message).to.equal(`drain() timed out after 50 ms: Redis at ${url} did not answer in that time (with ` +
        'no error: is a timeoutMs of 50 ms shorter than a look at Redis takes?). Is it running, and is the `redis` option right?');
    } finally {
      redis.disconnect();
      silent.close();
    }
  });
});

describe('drain() says while it waits that no worker runs a machine with work ready', () => {
  const ctx = sharedRedis('drain-no-worker');
  const { keys } = ctx;
  const drainSaying = async (said: string[], timeoutMs: number) => drainMachines({
    redis: ctx.redis, keys, machines: [{ name: 'M', subject: 'Order' }], redisAt: REDIS_URL, hasWorker: false,
    captured: async () => undefined, warn: (message) => said.push(message), noWorkerSayMs: 200,
  }, timeoutMs).then(() => undefined, (e: Error) => e);

  it('once, long before its timeout (a trial waited out 120 s with no worker started, told only then)', async () => {
    await ctx.redis.zadd(keys.step('M', 'ensure-publication').pending, 0, '7', 0, '8');
    const said: string[] = [];
    const error = await drainSaying(said, 1_500);
    expect(error?.name).to.equal('DrainTimeoutError');
    expect(said).to.deep.equal(['drain() has waited 0 s for M ensure-publication: 2 pending, 0 batch(es) in runs. No worker ' +
      'runs M: none is on its roll of workers in Redis, where a running worker renews an entry every second (one whose ' +
      `event loop is blocked for 5 s drops off too). Start one with the prefix "${keys.prefix}" (\`npx sync-machine worker\`, or ` +
      'your app\'s own worker process). drain() ' +
      'waits for one until its timeout (1500 ms after the call).']);
  });

  it('nothing while a worker on the roll runs the machine', async () => {
    const { redis } = ctx;
    const [seconds] = await redis.time();
    await redis.zadd(keys.workers('M'), Number(seconds) * 1000 + 60_000, 'worker-1');
    await redis.zadd(keys.step('M', 'ensure-publication').pending, 0, '7');
    const said: string[] = [];
    const error = await drainSaying(said, 1_000);
    expect(error?.name).to.equal('DrainTimeoutError');
    expect(said).to.deep.equal([]);
  });
});
