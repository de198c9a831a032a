import { expect } from 'chai';
import Redis from 'ioredis';
import { ConfigurationError } from '../../../lib/errors';
import { resolveRedis, RedisSettings } from '../../../lib/redis/connection';

/**
 * One Redis setting feeds two clients (ioredis for locks and keys, Bee-Queue's node_redis v3 for the queues):
 * both must reach the same server, database, credentials and TLS mode. No server is needed here: the ioredis
 * clients are looked at and closed before they connect.
 */
describe('resolveRedis (unit)', () => {
  /** The options of the ioredis client the settings make; the client is closed at once. */
  const clientOptions = (settings: RedisSettings) => {
    const client = settings.createClient();
    try {
      return client.options;
    } finally {
      client.disconnect();
    }
  };

  describe('a URL', () => {
    it('passes redis:// URLs to both clients unchanged, and describes them without the password', () => {
      const settings = resolveRedis('redis://user:s3cret@cache.example:6390/4');
      expect(settings.beeQueue).to.deep.equal({ url: 'redis://user:s3cret@cache.example:6390/4' });
      expect(settings.describe).to.equal('redis://cache.example:6390/4');
      expect(settings.describe).not.to.include('s3cret');
      const options = clientOptions(settings);
      expect(options).to.include({ host: 'cache.example', port: 6390, db: 4, username: 'user', password: 's3cret' });
    });

    it('accepts rediss:// (TLS) and a URL with no port or database', () => {
      expect(resolveRedis('rediss://cache.example:6380').describe).to.equal('rediss://cache.example:6380');
      expect(resolveRedis('rediss://cache.example:6380').beeQueue).to.deep.equal({ url: 'rediss://cache.example:6380' });
      expect(clientOptions(resolveRedis('rediss://cache.example:6380')).tls).to.not.equal(undefined);
      expect(clientOptions(resolveRedis('redis://127.0.0.1'))).to.include({ host: '127.0.0.1', port: 6379, db: 0 });
    });

    it('refuses what is not a redis:// or rediss:// URL, saying how to write one', () => {
      for (const input of ['127.0.0.1:6379', 'localhost', 'http://127.0.0.1:6379', '', 'redis//x']) {
        expect(() => resolveRedis(input), input).to.throw(ConfigurationError, /is not a redis:\/\/ or rediss:\/\/ URL: write it as redis:\/\//);
      }
    });
  });

  describe('ioredis options', () => {
    it('defaults host, port and db, and gives Bee-Queue the same server as a URL', () => {
      const settings = resolveRedis({});
      expect(settings.beeQueue).to.deep.equal({ url: 'redis://127.0.0.1:6379/0' });
      expect(settings.describe).to.equal('redis://127.0.0.1:6379/0');
    });

    it('carries host, port, db and the password (URL-encoded) to Bee-Queue, and keeps the password out of describe', () => {
      const settings = resolveRedis({ host: 'cache', port: 7000, db: 3, password: 'p@ss:/word' });
      expect(settings.beeQueue).to.deep.equal({ url: 'redis://:p%40ss%3A%2Fword@cache:7000/3' });
      expect(settings.describe).to.equal('redis://cache:7000/3');
      const withUser = resolveRedis({ host: 'cache', username: 'app', password: 'pw' });
      expect(withUser.beeQueue).to.deep.equal({ url: 'redis://app:pw@cache:6379/0' });
      expect(clientOptions(withUser)).to.include({ host: 'cache', username: 'app', password: 'pw' });
    });

    it('a username without a password gives no credentials to Bee-Queue (Redis ignores it without AUTH)', () => {
      expect(resolveRedis({ username: 'app' }).beeQueue).to.deep.equal({ url: 'redis://127.0.0.1:6379/0' });
    });

    it('the tls option switches both clients to TLS and passes the TLS settings through', () => {
      const tls = { servername: 'cache.example' };
      const settings = resolveRedis({ host: 'cache.example', port: 6380, tls });
      expect(settings.beeQueue).to.deep.equal({ url: 'rediss://cache.example:6380/0', tls });
      expect(settings.describe).to.equal('rediss://cache.example:6380/0');
      expect(clientOptions(settings).tls).to.deep.equal(tls);
    });

    it('copies the options: changing the caller\'s object later changes nothing', () => {
      const input = { host: 'a', port: 1 };
      const settings = resolveRedis(input);
      input.host = 'b';
      expect(clientOptions(settings).host).to.equal('a');
      expect(settings.beeQueue).to.deep.equal({ url: 'redis://a:1/0' });
    });
  });

  it('an ioredis instance gives its own options, and each createClient() is a new client', () => {
    const app = new Redis({ host: 'cache', port: 6391, db: 2, lazyConnect: true });
    try {
      const settings = resolveRedis(app);
      expect(settings.beeQueue).to.deep.equal({ url: 'redis://cache:6391/2' });
      const client = settings.createClient();
      try {
        expect(client).not.to.equal(app);
        expect(client.options).to.include({ host: 'cache', port: 6391, db: 2 });
      } finally {
        client.disconnect();
      }
    } finally {
      app.disconnect();
    }
  });

  it('refuses no setting at all, naming the forms it takes', () => {
    expect(() => resolveRedis(undefined)).to.throw(ConfigurationError, /SyncMachines\.start needs `redis`: a URL such as 'redis:\/\/127\.0\.0\.1:6379', ioredis options, or an ioredis instance/);
  });
});
