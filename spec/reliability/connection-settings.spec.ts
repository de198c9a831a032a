import { expect } from 'chai';
import { ConfigurationError } from '../../lib';
import { MAX_RECONNECT_DELAY_MS, resolveRedis } from '../../lib/redis/connection';
import { describeWait, isUnreachable } from '../../lib/redis/wait-for-redis';

/** Pure: how one `redis` setting becomes ioredis and Bee-Queue (node_redis) settings. No Redis needed. */
describe('resolveRedis (no services)', () => {
  it('hands a URL to both clients as it is, and describes it without the password', () => {
    const url = 'rediss://app:s3cr%40t@cache.example:6380/2';
    const settings = resolveRedis(url);
    expect(settings.beeQueue.url).to.equal(url);
    expect(settings.describe).to.equal('rediss://cache.example:6380/2');
    const client = settings.createClient({ lazyConnect: true });
    expect(client.options).to.include({ host: 'cache.example', port: 6380, db: 2, username: 'app', password: 's3cr@t' });
    expect(client.options.tls, 'rediss: TLS on').to.equal(true);
  });

  it('maps ioredis options to node_redis names, the TLS options (a CA) included', () => {
    const ca = '-----BEGIN CERTIFICATE-----\n...';
    const settings = resolveRedis({ host: '10.0.0.5', port: 6390, db: 3, username: 'app', password: 'pw', tls: { ca } });
    expect(settings.beeQueue).to.include({ host: '10.0.0.5', port: 6390, db: 3, user: 'app', password: 'pw' });
    expect(settings.beeQueue.tls).to.deep.equal({ ca });
    expect(settings.describe).to.equal('rediss://10.0.0.5:6390/3');
    expect(resolveRedis({ path: '/run/redis.sock' }).beeQueue).to.include({ path: '/run/redis.sock', db: 0 });
    expect(resolveRedis({}).beeQueue).to.include({ host: '127.0.0.1', port: 6379 });
  });

  it('reconnects every client at most MAX_RECONNECT_DELAY_MS apart, forever, and looks that often at a Redis still loading its data, unless the options say otherwise', () => {
    for (const settings of [resolveRedis('redis://127.0.0.1:6379'), resolveRedis({ port: 6379 })]) {
      const beeQueueStrategy = settings.beeQueue.retry_strategy as (p: { attempt: number }) => number;
      expect([1, 2, 1000].map((attempt) => beeQueueStrategy({ attempt }))).to.deep.equal([50, 100, MAX_RECONNECT_DELAY_MS]);
      expect(settings.beeQueue.connect_timeout).to.equal(2 ** 31 - 1); // node_redis would give up after an hour
      const client = settings.createClient({ lazyConnect: true });
      expect([1, 1000].map((times) => client.options.retryStrategy!(times))).to.deep.equal([50, MAX_RECONNECT_DELAY_MS]);
      // While Redis loads its append-only file, ioredis looked again only after the load's estimate (up to 10 s): a
      // client measured ready 7 s after Redis answered, and a trial's capture dropped changes for 9 s meanwhile.
      expect(client.options.maxLoadingRetryTime).to.equal(MAX_RECONNECT_DELAY_MS);
    }
    const own = (times: number) => times * 1000;
    expect(resolveRedis({ retryStrategy: own }).createClient({ lazyConnect: true }).options.retryStrategy).to.equal(own);
    expect(resolveRedis({ maxLoadingRetryTime: 5_000 }).createClient({ lazyConnect: true }).options.maxLoadingRetryTime).to.equal(5_000);
  });

  it('refuses keyPrefix, saying to use `prefix`; refuses other URLs without printing the password', () => {
    expect(() => resolveRedis({ keyPrefix: 'app:' })).to.throw(ConfigurationError,
      'the ioredis options set keyPrefix "app:", which sync-machine cannot use: use the `prefix` option instead ' +
      "(SyncMachines.start({ prefix: 'app' })) and drop keyPrefix.");
    expect(() => resolveRedis({ keyPrefix: '' })).not.to.throw();
    expect(() => resolveRedis('http://user:hunter2@host:6379')).to.throw(ConfigurationError, '"http://user:***@host:6379" is not a redis://');
    expect(() => resolveRedis(undefined as never)).to.throw(ConfigurationError, 'SyncMachines.start needs `redis`');
  });
});

describe('isUnreachable (no services)', () => {
  it('tells "not answering yet" from a setting that waiting will not fix', () => {
    const withCode = (message: string, code?: string) => Object.assign(new Error(message), { code });
    expect(isUnreachable(withCode('connect ECONNREFUSED 127.0.0.1:6379', 'ECONNREFUSED'))).to.equal(true);
    expect(isUnreachable(new Error('LOADING Redis is loading the dataset in memory'))).to.equal(true);
    expect(isUnreachable(new Error('Connection is closed.'))).to.equal(true);
    expect(isUnreachable(new Error('WRONGPASS invalid username-password pair or user is disabled.'))).to.equal(false);
    expect(isUnreachable(withCode('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'))).to.equal(false);
    expect(isUnreachable(undefined)).to.equal(false);
  });

  it("a worker's wait on a rediss:// address that times out gives the TLS hint, as start() does", () => {
    const timedOut = Object.assign(new Error('no connection within 2 s (connect timed out)'), { code: 'ETIMEDOUT' });
    const info = { attempt: 1, delayMs: 250, error: timedOut };
    // A trial's worker waited on a plain Redis given as rediss:// with no word of TLS.
    expect(describeWait(resolveRedis('rediss://127.0.0.1:6390'), info)).to.match(/\(attempt 1\)\. With rediss:\/\/ the server must speak TLS/);
    expect(describeWait(resolveRedis('redis://127.0.0.1:6390'), info)).to.match(/\(attempt 1\)\.$/);
  });
});
