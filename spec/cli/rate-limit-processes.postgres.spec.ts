import { expect } from 'chai';
import { SyncMachines } from '../../lib';
import { MemoryLogger } from '../support/logger';
import { ApiClient } from '../support/partner-api';
import { typeOrmShop } from '../support/orms/typeorm';
import { REDIS_URL } from '../support/redis';
import { BOOT_MS, startWorkerProcess, WorkerProcess } from '../reliability/support/worker-process';
import { CliWorld, until } from './support/cli-world';

/** SPEC §6.1 rateLimit: one limit for the machine, held across worker processes that share nothing but Redis. */
describe('rateLimit across two worker processes (PostgreSQL, Redis)', function () {
  this.timeout(BOOT_MS * 2 + 60_000);
  let w: CliWorld;
  const workers: WorkerProcess[] = [];

  beforeEach(async () => { w = await new CliWorld().setUp(); });
  afterEach(async () => {
    for (const { child } of workers.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await w.tearDown();
  });

  it('lets at most max publishes through per window, whichever process sends them', async () => {
    const env = { ...w.env, TEST_REDIS_URL: REDIS_URL, SM_CLI_RATE_LIMIT: JSON.stringify({ max: 3, perMs: 1000 }), SM_CLI_WORKER: JSON.stringify({ concurrency: 4 }) };
    workers.push(startWorkerProcess(env), startWorkerProcess(env));
    for (const worker of workers) {
      await until(() => worker.output.stdout.includes('sync-machine worker: running OrderToApiSync'),
        () => `a worker to start; it said: ${worker.output.stdout}${worker.output.stderr}`, BOOT_MS);
    }
    const orders = await w.orders(12);
    const app = await SyncMachines.start({
      orm: w.dataSource, redis: REDIS_URL, prefix: w.prefix, logger: new MemoryLogger(),
      machines: [new typeOrmShop.OrderToApiSync(new ApiClient(w.api.url))],
    });
    await app.resync('OrderToApiSync');
    await app.drain({ timeoutMs: 60_000 });
    await app.close();

    const publishes = w.api.publishes().sort((a, b) => a.startedAt - b.startedAt);
    expect(publishes.map((r) => r.id).sort()).to.deep.equal(orders.map((o) => String(o.id)).sort());
    expect(new Set(publishes.map((r) => r.sender)).size, 'processes that published').to.equal(2);
    // Permits go 3 a second; arrivals can be closer by what one request takes from its permit to the API here
    // (300 ms of slack on this shared machine). Without the limit, both processes would send all 12 within ~0.2 s.
    const starts = publishes.map((r) => r.startedAt);
    for (let i = 3; i < starts.length; i++) expect(starts[i] - starts[i - 3], `publishes ${i - 3}..${i}`).to.be.at.least(700);
    expect(starts[starts.length - 1] - starts[0]).to.be.at.least(2700);
  });
});
