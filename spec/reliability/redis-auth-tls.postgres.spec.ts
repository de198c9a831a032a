import { expect } from 'chai';
import Redis from 'ioredis';
import { ConfigurationError, StartOptions, SyncMachines } from '../../lib';
import { CliWorld, until } from '../cli/support/cli-world';
import { Harness } from '../support/harness';
import { MemoryLogger } from '../support/logger';
import { typeOrmShop } from '../support/orms/typeorm';
import { ApiClient } from '../support/partner-api';
import { PrivateRedis } from './support/private-redis';
import { BOOT_MS, startWorkerProcess } from './support/worker-process';

const DRAIN = { timeoutMs: 20_000 };
const PASSWORD = 's3cr:t@/pass'; // characters a URL must escape

/** A worker and a capture-only runtime on `redis`: one order created must reach the partner API. */
async function publishesEndToEnd(h: Harness, redis: StartOptions['redis']): Promise<void> {
  const worker = await h.startWorker({ redis });
  const capture = await h.start({ redis });
  const order = await h.order(await h.customer());
  await capture.drain(DRAIN);
  await worker.drain(DRAIN);
  expect(h.api.publishes(String(order.id)).map((r) => r.body!.order_status)).to.deep.equal(['purchased']);
}

describe('Redis with a password and over TLS (PostgreSQL)', function () {
  this.timeout(120_000);
  let h: Harness;
  beforeEach(async () => { h = await new Harness('postgres', 'auth-tls').setUp(); });
  afterEach(async () => { await h.tearDown(); });

  describe('requirepass', () => {
    let redis: PrivateRedis;
    before(async () => { redis = await PrivateRedis.create({ password: PASSWORD }); });
    after(async () => { await redis.destroy(); });

    it('publishes with the password in the URL', async () => {
      expect(redis.url).to.contain(encodeURIComponent(PASSWORD));
      await publishesEndToEnd(h, redis.url);
    });

    it('publishes with ioredis options { host, port, password }', async () => {
      await publishesEndToEnd(h, { host: '127.0.0.1', port: redis.port, password: PASSWORD });
    });

    it('fails at start with a wrong password, naming the address but not the password', async () => {
      const error = await h.start({ redis: `redis://:wrong-one@127.0.0.1:${redis.port}` }).then(() => null, (e: Error) => e);
      expect(error).to.be.instanceOf(ConfigurationError);
      // Said as refused, with its fix: a trial read "Cannot reach Redis … Start Redis" for it.
      expect(error!.message).to.equal(`Redis at redis://127.0.0.1:${redis.port} refused the credentials (WRONGPASS invalid ` +
        'username-password pair or user is disabled): fix the user and password in the `redis` option ' +
        '(redis://user:password@host:6379/0, or `username` and `password`).');
      expect(error!.message).not.to.contain('wrong-one');
    });

    it('fails at start without a password, saying Redis needs one', async () => {
      const error = await h.start({ redis: `redis://127.0.0.1:${redis.port}` }).then(() => null, (e: Error) => e);
      expect(error).to.be.instanceOf(ConfigurationError);
      expect(error!.message).to.match(new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${redis.port} needs a password \\(NOAUTH .*\\): add it to the \`redis\` option`));
    });
  });

  describe('an ACL user', () => {
    let redis: PrivateRedis;
    let admin: Redis;
    const url = () => `redis://app:app-pass@127.0.0.1:${redis.port}`;
    before(async () => {
      redis = await PrivateRedis.create();
      admin = new Redis(redis.url);
    });
    after(async () => {
      admin.disconnect();
      await redis.destroy();
    });

    it("without channels refuses a worker's start naming the ACL grant, which then works for its prefix alone", async () => {
      // Redis 7 gives a new user no channels (acl-pubsub-default resetchannels): a trial's worker read "Cannot reach Redis".
      await admin.call('ACL', 'SETUSER', 'app', 'reset', 'on', '>app-pass', '~*', '+@all');
      const error = await h.startWorker({ redis: url() }).then(() => null, (e: Error) => e);
      expect(error).to.be.instanceOf(ConfigurationError);
      expect(error!.message).to.match(new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${redis.port} refused a command to its ACL user ` +
        `\\(NOPERM .*channels.*\\): .*Grant what was refused: ACL SETUSER <user> &${h.prefix}:\\* \\(a new user needs ` +
        `~${h.prefix}:\\* &${h.prefix}:\\* \\+@all\\)\\.$`));
      // The grant it names, as a user pastes it onto this one (a whole `~p:* &p:* +@all` is refused after `~*`), works.
      await admin.call('ACL', 'SETUSER', 'app', `&${h.prefix}:*`);
      await publishesEndToEnd(h, url());
    });

    it('limited to what the README names for a new user (its prefix\'s keys and channels) runs a worker and capture', async () => {
      await admin.call('ACL', 'SETUSER', 'app', 'reset', 'on', '>app-pass', `~${h.prefix}:*`, `&${h.prefix}:*`, '+@all');
      await publishesEndToEnd(h, url());
    });
  });

  describe('TLS (self-signed certificate) with requirepass', () => {
    let redis: PrivateRedis;
    before(async () => { redis = await PrivateRedis.create({ tls: true, password: PASSWORD }); });
    after(async () => { await redis.destroy(); });

    it('publishes with ioredis options { host, port, password, tls: { ca } }: the CA reaches Bee-Queue too', async () => {
      await publishesEndToEnd(h, { host: '127.0.0.1', port: redis.port, password: PASSWORD, tls: { ca: redis.ca } });
    });

    it('publishes with an ioredis instance configured the same way (the instance itself is left alone)', async () => {
      const instance = new Redis({ host: '127.0.0.1', port: redis.port, password: PASSWORD, tls: { ca: redis.ca }, lazyConnect: true });
      await publishesEndToEnd(h, instance);
      expect(instance.status).to.equal('wait'); // never connected by us
    });

    it('publishes from a worker process given the rediss:// URL, the CA trusted through NODE_EXTRA_CA_CERTS', async () => {
      const w = await new CliWorld().setUp();
      const worker = startWorkerProcess({ ...w.env, TEST_REDIS_URL: redis.url, NODE_EXTRA_CA_CERTS: redis.caFile });
      let capture: SyncMachines | undefined;
      try {
        expect(redis.url).to.match(/^rediss:\/\/:[^@]+@127\.0\.0\.1:\d+$/);
        await until(() => worker.output.stdout.includes('running OrderToApiSync'), () => `the worker; stderr:\n${worker.output.stderr}`, BOOT_MS);
        capture = await SyncMachines.start({
          orm: w.dataSource, prefix: w.prefix, logger: new MemoryLogger(),
          redis: { host: '127.0.0.1', port: redis.port, password: PASSWORD, tls: { ca: redis.ca } },
          machines: [new typeOrmShop.OrderToApiSync(new ApiClient(w.api.url))],
        });
        const [order] = await w.orders(1);
        await until(() => w.api.publishes(String(order.id)).length === 1, 'the publish');
        worker.child.kill('SIGTERM');
        expect(await worker.exited, worker.output.stderr).to.equal(0);
      } finally {
        if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
        await capture?.close();
        await w.tearDown();
      }
    });

    it('refuses a certificate it cannot verify (no CA given)', async () => {
      const error = await h.start({ redis: { host: '127.0.0.1', port: redis.port, password: PASSWORD, tls: {} } })
        .then(() => null, (e: Error) => e);
      expect(error).to.be.instanceOf(ConfigurationError);
      expect(error!.message).to.match(/Cannot reach Redis at rediss:\/\/127\.0\.0\.1/);
    });
  });

  describe('ioredis keyPrefix', () => {
    const fix = /keyPrefix "app:", which sync-machine cannot use: use the `prefix` option instead/;

    it('is refused at start in ioredis options', async () => {
      const error = await h.start({ redis: { host: '127.0.0.1', port: 6379, keyPrefix: 'app:' } }).then(() => null, (e: Error) => e);
      expect(error).to.be.instanceOf(ConfigurationError);
      expect(error!.message).to.match(fix).and.to.contain('the ioredis options set keyPrefix');
    });

    it('is refused at start on an ioredis instance, and in a URL query', async () => {
      const instance = new Redis({ port: 6379, keyPrefix: 'app:', lazyConnect: true });
      const fromInstance = await h.start({ redis: instance }).then(() => null, (e: Error) => e);
      expect(fromInstance!.message).to.match(fix).and.to.contain('the ioredis instance set keyPrefix');
      const fromUrl = await h.start({ redis: 'redis://127.0.0.1:6379/0?keyPrefix=app:' }).then(() => null, (e: Error) => e);
      expect(fromUrl!.message).to.match(fix).and.to.contain('the URL set keyPrefix');
    });
  });
});
