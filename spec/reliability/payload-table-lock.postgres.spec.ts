import { expect } from 'chai';
import { Harness } from '../support/harness';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A lock on sync_machine_payloads, as a migration's ALTER TABLE takes: an app process starts and captures through it,
 * a worker's warning names the reads it waits for (not the hooks), and the work runs once the lock is gone.
 */
describe('a lock on the payload table (PostgreSQL)', function () {
  this.timeout(30_000);
  let h: Harness;
  beforeEach(async () => { h = await new Harness('postgres', 'table-lock').setUp(); });
  afterEach(async () => h.tearDown());

  it('does not hold an app process\' start; a run waiting for it says so; it runs once the lock is gone', async () => {
    const worker = await h.startWorker({ worker: { concurrency: 2, lockTtlMs: 1_500, stallIntervalMs: 500, retry: { attempts: 3, initialDelayMs: 20 } } });
    const customer = await h.customer();
    await worker.drain({ timeoutMs: 10_000 });
    let orderId = 0;
    const migration = h.ds.createQueryRunner();
    await migration.connect();
    await migration.startTransaction();
    try {
      await migration.query('LOCK TABLE sync_machine_payloads IN ACCESS EXCLUSIVE MODE');
      // Before, an app process' start read the table (the data-loss look) and waited for the lock: 17 s in a trial.
      const started = await Promise.race([h.start().then(() => 'started'), sleep(5_000).then(() => 'held')]);
      expect(started).to.equal('started');

      const order = await h.order(customer);
      orderId = order.id;
      const said = () => h.logger.warnings().filter((w) => w.includes('still running after'));
      for (let waited = 0; said().length === 0 && waited < 10_000; waited += 50) await sleep(50);
      // Before: "@Build or @Publish has not returned ... Give the call a timeout", of hooks never called.
      expect(said()[0]).to.equal(`ensure-publication of OrderToApiSync: Order ${order.id} still running after 2 s, waiting for ` +
        "the batch's reads of their rows and their stored payloads (sync_machine_payloads): the database has not answered (a " +
        "lock on the table, such as a migration's ALTER TABLE or LOCK TABLE; a connection pool used up by reads that wait on " +
        'one; or a connection that hangs?). No hook has been ' +
        'called yet; they run when it answers.');
      expect(h.api.publishes(String(order.id))).to.deep.equal([]);
    } finally {
      await migration.commitTransaction();
      await migration.release();
    }
    await worker.drain({ timeoutMs: 10_000 });
    expect(h.api.publishes(String(orderId))).to.have.length(1);
    expect(h.logger.errors()).to.deep.equal([]);
  });
});
