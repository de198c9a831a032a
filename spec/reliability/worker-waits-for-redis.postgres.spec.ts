import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { SyncMachines } from '../../lib';
import { CliWorld, until } from '../cli/support/cli-world';
import { MemoryLogger } from '../support/logger';
import { typeOrmShop } from '../support/orms/typeorm';
import { ApiClient } from '../support/partner-api';
import { PrivateRedis } from './support/private-redis';
import { BOOT_MS, startWorkerProcess } from './support/worker-process';

const waitLines = (stderr: string) => stderr.split('\n').filter((l) => /does not answer/.test(l));

describe('sync-machine worker started before Redis (a process, PostgreSQL, a private Redis)', function () {
  this.timeout(120_000);
  let w: CliWorld;
  let redis: PrivateRedis;
  let child: ChildProcess | undefined;
  let capture: SyncMachines | undefined;
  beforeEach(async () => {
    w = await new CliWorld().setUp();
    redis = await PrivateRedis.create({ deferStart: true });
  });
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await capture?.close();
    capture = undefined;
    await w.tearDown();
    await redis.destroy();
  });

  it('waits with backoff, saying so on stderr, comes up when Redis starts 2 s later, and publishes', async () => {
    const worker = startWorkerProcess({ ...w.env, TEST_REDIS_URL: redis.url });
    child = worker.child;
    await until(() => waitLines(worker.output.stderr).length > 0, () => `a wait line; stderr:\n${worker.output.stderr}`, BOOT_MS);
    await new Promise((r) => setTimeout(r, 2000));
    expect(child.exitCode, worker.output.stderr).to.equal(null);
    await redis.start();
    await until(() => worker.output.stdout.includes('sync-machine worker: running OrderToApiSync'),
      () => `the worker to start; stderr:\n${worker.output.stderr}`, BOOT_MS);
    expect(worker.output.stderr).to.match(new RegExp(`Redis at redis://127\\.0\\.0\\.1:${redis.port} does not answer \\(.*ECONNREFUSED.*\\); ` +
      'trying again in \\d+\\.\\d s \\(attempt 1\\)\\.'));
    expect(worker.output.stderr).to.contain('answers; starting.');
    const tries = waitLines(worker.output.stderr).length;
    expect(tries, 'one line per try, backing off').to.be.within(2, 8);

    capture = await SyncMachines.start({
      orm: w.dataSource, redis: redis.url, prefix: w.prefix, logger: new MemoryLogger(),
      machines: [new typeOrmShop.OrderToApiSync(new ApiClient(w.api.url))],
    });
    const [order] = await w.orders(1);
    await until(() => w.api.publishes(String(order.id)).length === 1, 'the publish');
    child.kill('SIGTERM');
    expect(await worker.exited, worker.output.stderr).to.equal(0);
  });

  it('exits cleanly on SIGTERM while it waits', async () => {
    const worker = startWorkerProcess({ ...w.env, TEST_REDIS_URL: redis.url });
    child = worker.child;
    await until(() => waitLines(worker.output.stderr).length >= 2, () => `two wait lines; stderr:\n${worker.output.stderr}`, BOOT_MS);
    child.kill('SIGTERM');
    expect(await worker.exited, worker.output.stderr).to.equal(0);
    expect(worker.output.stdout).to.match(/sync-machine worker: SIGTERM while waiting for Redis: stopped\.\n$/);
  });
});
