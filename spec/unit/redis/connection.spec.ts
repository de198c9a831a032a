import { expect } from 'chai';
import Redis from 'ioredis';
import { ConfigurationError } from '../../../lib/errors';
import { MAX_RECONNECT_DELAY_MS, resolveRedis, RedisSettings } from '../../../lib/redis/connection';

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

  /**
   * Bee-Queue's options without the reconnection settings every form adds, after checking those: node_redis
   * retries 50, 100, ... ms apart, never more than MAX_RECONNECT_DELAY_MS, and does not give up after an hour.
   * What is left can be compared whole, so that no stray field (a `url` beside host/port) goes unnoticed.
   */
  const connection = (settings: RedisSettings) => {
    const { retry_strategy: retryStrategy, connect_timeout: connectTimeout, ...rest } = settings.beeQueue;
    expect(retryStrategy, 'retry_strategy').to.be.a('function');
    const delays = [1, 2, 3, 5, 6, 100].map((attempt) => (retryStrategy as (p: { attempt: number }) => number)({ attempt }));
    expect(delays, 'retry_strategy delays').to.deep.equal([50, 100, 150, 250, MAX_RECONNECT_DELAY_MS, MAX_RECONNECT_DELAY_MS]);
    expect(connectTimeout, 'connect_timeout').to.equal(2 ** 31 - 1);
    return rest;
  };

  describe('a URL', () => {
    it('passes redis:// URLs to both clients unchanged, and describes them without the password', () => {
      const settings = resolveRedis('redis://user:s3cret@cache.example:6390/4');
      expect(connection(settings)).to.deep.equal({ url: 'redis://user:s3cret@cache.example:6390/4' });
      expect(settings.describe).to.equal('redis://cache.example:6390/4');
      expect(settings.describe).not.to.include('s3cret');
      const options = clientOptions(settings);
      expect(options).to.include({ host: 'cache.example', port: 6390, db: 4, username: 'user', password: 's3cret' });
    });

    it('accepts rediss:// (TLS) and a URL with no port or database', () => {
      expect(resolveRedis('rediss://cache.example:6380').describe).to.equal('rediss://cache.example:6380');
      expect(connection(resolveRedis('rediss://cache.example:6380'))).to.deep.equal({ url: 'rediss://cache.example:6380' });
      expect(clientOptions(resolveRedis('rediss://cache.example:6380')).tls).to.not.equal(undefined);
      expect(clientOptions(resolveRedis('redis://127.0.0.1'))).to.include({ host: '127.0.0.1', port: 6379, db: 0 });
    });

    it('reads the database from the path, or a db parameter without one; refuses one that is not a whole number', () => {
      expect(resolveRedis('redis://127.0.0.1:6379/4').db).to.equal(4);
      expect(resolveRedis('redis://127.0.0.1:6379').db).to.equal(0);
      expect(resolveRedis('redis://127.0.0.1:6379/?db=2').db).to.equal(2);
      // Before, "/abc" crashed the process: Bee-Queue's client sent SELECT NaN and threw its error where none caught it.
      for (const input of ['redis://127.0.0.1:6379/abc', 'redis://127.0.0.1:6379/1.5', 'redis://127.0.0.1:6379/-1', 'redis://h/?db=x']) {
        expect(() => resolveRedis(input), input).to.throw(ConfigurationError,
          /^redis: the URL set database "[^"]+", which is not a database index: write it as a whole number, 0 to 15 .*redis:\/\/127\.0\.0\.1:6379\/0/);
      }
    });

    it('refuses what is not a redis:// or rediss:// URL, saying how to write one', () => {
      for (const input of ['127.0.0.1:6379', 'localhost', 'http://127.0.0.1:6379', '', 'redis//x']) {
        expect(() => resolveRedis(input), input).to.throw(ConfigurationError, /is not a redis:\/\/ or rediss:\/\/ URL: write it as redis:\/\//);
      }
    });
  });

  describe('ioredis options', () => {
    it('defaults host, port and db, and gives Bee-Queue the same server, field by field', () => {
      const settings = resolveRedis({});
      expect(connection(settings)).to.deep.equal({ host: '127.0.0.1', port: 6379, db: 0 });
      expect(settings.describe).to.equal('redis://127.0.0.1:6379/0');
      expect(clientOptions(settings)).to.include({ port: 6379, db: 0 }); // ioredis' own default host is 'localhost'
    });

    it('carries host, port, db and the password (as given) to Bee-Queue, and keeps the password out of describe', () => {
      const settings = resolveRedis({ host: 'cache', port: 7000, db: 3, password: 'p@ss:/word' });
      expect(connection(settings)).to.deep.equal({ host: 'cache', port: 7000, db: 3, password: 'p@ss:/word' });
      expect(settings.describe).to.equal('redis://cache:7000/3');
      expect(settings.describe).not.to.include('p@ss');
      expect(clientOptions(settings)).to.include({ host: 'cache', port: 7000, db: 3, password: 'p@ss:/word' });
      const withUser = resolveRedis({ host: 'cache', username: 'app', password: 'pw' });
      expect(connection(withUser)).to.deep.equal({ host: 'cache', port: 6379, db: 0, user: 'app', password: 'pw' });
      expect(withUser.describe).to.equal('redis://cache:6379/0');
      expect(clientOptions(withUser)).to.include({ host: 'cache', port: 6379, db: 0, username: 'app', password: 'pw' });
    });

    it('a username without a password gives no credentials to Bee-Queue (Redis ignores it without AUTH)', () => {
      // `user` is passed along as the name, but node_redis (like ioredis) sends AUTH only when there is a password.
      const settings = resolveRedis({ username: 'app' });
      expect(connection(settings)).to.deep.equal({ host: '127.0.0.1', port: 6379, db: 0, user: 'app' });
      expect(settings.beeQueue).not.to.have.any.keys('password', 'auth_pass', 'url');
      expect(clientOptions(settings).password).to.equal(null); // ioredis' default: no AUTH
    });

    it('the tls option switches both clients to TLS and passes the TLS settings (a CA) through', () => {
      const ca = '-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n';
      const tls = { servername: 'cache.example', ca };
      const settings = resolveRedis({ host: 'cache.example', port: 6380, password: 'pw', tls });
      expect(connection(settings)).to.deep.equal({ host: 'cache.example', port: 6380, db: 0, password: 'pw', tls: { servername: 'cache.example', ca } });
      expect(settings.describe).to.equal('rediss://cache.example:6380/0');
      expect(settings.describe).not.to.include('pw');
      expect(clientOptions(settings).tls).to.deep.equal(tls);
      expect(connection(resolveRedis({ host: 'cache.example', tls: {} })), 'tls: {} is TLS too').to.deep.equal({ host: 'cache.example', port: 6379, db: 0, tls: {} });
    });

    it('copies the options: changing the caller\'s object later changes nothing', () => {
      const tls = { servername: 'a' };
      const input = { host: 'a', port: 1, password: 'one', tls };
      const settings = resolveRedis(input);
      input.host = 'b';
      input.password = 'two';
      tls.servername = 'b';
      expect(clientOptions(settings)).to.include({ host: 'a', password: 'one' });
      expect(connection(settings)).to.deep.equal({ host: 'a', port: 1, db: 0, password: 'one', tls: { servername: 'a' } });
      expect(settings.describe).to.equal('rediss://a:1/0');
    });

    it('refuses a db that is not a whole number of at least 0', () => {
      for (const db of [-1, 1.5, 'two', true]) {
        expect(() => resolveRedis({ db } as never), String(db)).to.throw(ConfigurationError, /^redis: the ioredis options set database .*, which is not a database index/);
      }
      expect(resolveRedis({ db: '3' } as never).db).to.equal(3);
    });

    it('accepts a port written as a string of digits, as ioredis does, and gives both clients the number', () => {
      const settings = resolveRedis({ host: 'cache', port: '6380' as unknown as number });
      expect(connection(settings)).to.deep.equal({ host: 'cache', port: 6380, db: 0 });
      expect(settings.describe).to.equal('redis://cache:6380/0');
      expect(clientOptions(settings)).to.include({ host: 'cache', port: 6380 });
    });

    it('refuses a port that is not a whole number from 1 to 65535, saying how to write it', () => {
      const cases: Array<[unknown, string]> = [
        ['abc', 'port "abc"'], ['', 'port ""'], ['63 79', 'port "63 79"'], ['-1', 'port "-1"'], [-1, 'port -1'], [0, 'port 0'],
        [65536, 'port 65536'], [6379.5, 'port 6379.5'], [Number.NaN, 'port NaN'], [true, 'port true'], [{}, 'port [object Object]'],
      ];
      for (const [port, shown] of cases) {
        expect(() => resolveRedis({ host: 'cache', port: port as number }), String(port)).to.throw(ConfigurationError,
          `redis: the ioredis options set ${shown}, which is not a TCP port: write it as a whole number from 1 to 65535, ` +
          "such as { host: '127.0.0.1', port: 6379 }, or leave it out for 6379.");
      }
      expect(() => resolveRedis({ port: 65535 })).not.to.throw();
      expect(() => resolveRedis({ port: 1 })).not.to.throw();
      expect(connection(resolveRedis({ host: 'cache', port: null as unknown as number })), 'null: the default').to.deep.equal({ host: 'cache', port: 6379, db: 0 });
    });
  });

  it('an ioredis instance gives its own options, and each createClient() is a new client', () => {
    const app = new Redis({ host: 'cache', port: 6391, db: 2, lazyConnect: true });
    try {
      const settings = resolveRedis(app);
      expect(connection(settings)).to.deep.equal({ host: 'cache', port: 6391, db: 2 });
      expect(settings.describe).to.equal('redis://cache:6391/2');
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

  it('an ioredis instance with a password and TLS gives Bee-Queue the same, and describe keeps the password out', () => {
    const app = new Redis({ host: 'cache', port: 6380, username: 'app', password: 'hunter2', tls: { ca: 'CA' }, lazyConnect: true });
    try {
      const settings = resolveRedis(app);
      expect(connection(settings)).to.deep.equal({ host: 'cache', port: 6380, db: 0, user: 'app', password: 'hunter2', tls: { ca: 'CA' } });
      expect(settings.describe).to.equal('rediss://cache:6380/0');
      expect(settings.describe).not.to.include('hunter2');
    } finally {
      app.disconnect();
    }
  });

  it('refuses an ioredis instance whose port is not a port', () => {
    const app = new Redis({ port: 'abc' as unknown as number, lazyConnect: true });
    try {
      expect(() => resolveRedis(app)).to.throw(ConfigurationError, 'redis: the ioredis instance set port NaN, which is not a TCP port: write it as');
    } finally {
      app.disconnect();
    }
  });

  it('refuses no setting at all, naming the forms it takes', () => {
    for (const input of [undefined, null]) {
      expect(() => resolveRedis(input as undefined), String(input)).to.throw(ConfigurationError, /SyncMachines\.start needs `redis`: a URL such as 'redis:\/\/127\.0\.0\.1:6379', ioredis options, or an ioredis instance/);
    }
  });

  it('refuses a number, a boolean, a function or an array instead of falling back to 127.0.0.1:6379, saying what to write', () => {
    const how = "which sync-machine cannot connect with: write a URL such as 'redis://127.0.0.1:6379', " +
      "ioredis options such as { host: '127.0.0.1', port: 6379 }, or an ioredis instance.";
    const cases: Array<[unknown, string]> = [
      [42, 'redis is a number (42), '], [6379, 'redis is a number (6379), '], [true, 'redis is a boolean (true), '],
      [false, 'redis is a boolean (false), '], [[], 'redis is an array, '], [['redis://127.0.0.1:6379'], 'redis is an array, '],
    ];
    for (const [input, what] of cases) {
      expect(() => resolveRedis(input as string), JSON.stringify(input)).to.throw(ConfigurationError, what + how);
    }
    expect(() => resolveRedis((() => 'redis://127.0.0.1:6379') as unknown as string)).to.throw(ConfigurationError, /^redis is a function \(.*\), which sync-machine cannot connect with: write a URL/s);
  });
});
