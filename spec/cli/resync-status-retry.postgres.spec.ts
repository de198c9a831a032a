import { expect } from 'chai';
import Redis from 'ioredis';
import { typeOrmShop } from '../support/orms/typeorm';
import { REDIS_URL } from '../support/redis';
import { KeySpace } from '../../lib/redis/keys';
import { MemoryLogger } from '../support/logger';
import { CliWorld, runInProcess, SHOP_CONFIG } from './support/cli-world';

/** The CLI against PostgreSQL and Redis: resync, status and retry-failed, each as a user types it. */
describe('sync-machine resync, status, retry-failed (PostgreSQL, Redis)', () => {
  let w: CliWorld;
  let redis: Redis;
  const cli = (...argv: string[]) => runInProcess(['--config', SHOP_CONFIG, ...argv]);
  /** Subjects pending publication. */
  const waiting = () => redis.zcard(new KeySpace(w.prefix).step('OrderToApiSync', 'ensure-publication').pending);


  beforeEach(async () => {
    w = await new CliWorld().setUp();
    w.exportEnv();
    redis = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    redis.disconnect();
    await w.tearDown();
  });

  it('resync enqueues every subject in batches, with plain progress lines when not on a terminal, and prints the count', async () => {
    await w.orders(5);
    const run = await cli('resync', 'OrderToApiSync', '--batch-size', '2');
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stderr).to.include('OrderToApiSync: enqueued 2/5\n'); // the first batch, at once
    expect(run.stderr).to.match(/OrderToApiSync: enqueued 5\/5\n$/); // the last one, always
    expect(run.stdout).to.match(/^Enqueued 5 OrderToApiSync subjects for publication\. A worker publishes them/);
    expect(await waiting()).to.equal(5);

    const worker = await w.startWorker();
    await worker.drain({ timeoutMs: 20_000 });
    await worker.close();
    expect(w.api.publishes().map((r) => r.id).sort()).to.deep.equal(['1', '2', '3', '4', '5']);
  });

  it('resync --ids and --where pick the subjects; --force republishes unchanged payloads', async () => {
    await w.orders(3);
    await w.orders(2, { status: 'shipped' });
    const shipped = await cli('resync', 'OrderToApiSync', '--where', '{"status":"shipped"}');
    expect(shipped.stderr).to.include('OrderToApiSync: enqueued 2/2');
    expect(shipped.stdout).to.match(/^Enqueued 2 OrderToApiSync subjects/);
    const some = await cli('resync', 'OrderToApiSync', '--ids', '1, 3');
    expect(some.stdout).to.match(/^Enqueued 2 OrderToApiSync subjects/);
    expect(await waiting()).to.equal(4);

    const worker = await w.startWorker();
    await worker.drain({ timeoutMs: 20_000 });
    expect(w.api.publishes().map((r) => r.id).sort()).to.deep.equal(['1', '3', '4', '5']);

    expect((await cli('resync', 'OrderToApiSync', '--ids', '1')).code).to.equal(0);
    await worker.drain({ timeoutMs: 20_000 });
    expect(w.api.publishes('1')).to.have.length(1); // unchanged: not sent again
    const forced = await cli('resync', 'OrderToApiSync', '--ids', '1', '--force');
    expect(forced.stdout).to.include('Enqueued 1 OrderToApiSync subject for publication (forced');
    await worker.drain({ timeoutMs: 20_000 });
    expect(w.api.publishes('1')).to.have.length(2);
    await worker.close();
  });

  it('resync refuses a wrong command line with exit code 2 (a column or id the subject cannot have too), without a stack trace', async () => {
    const both = await cli('resync', 'OrderToApiSync', '--ids', '1', '--where', '{"status":"shipped"}');
    expect([both.code, both.stderr]).to.deep.equal([2, 'sync-machine: --ids and --where exclude each other: pick the subjects one way.\n']);
    const unknown = await cli('resync', 'CustomerSync');
    expect([unknown.code, unknown.stderr]).to.deep.equal([2, 'sync-machine: Unknown machine "CustomerSync": the config starts OrderToApiSync.\n']);
    const json = await cli('resync', 'OrderToApiSync', '--where', 'status=shipped');
    expect(json.code).to.equal(2);
    expect(json.stderr).to.include('expected a JSON object of column values');
    const column = await cli('resync', 'OrderToApiSync', '--where', '{"colour":"red"}');
    expect(column.code).to.equal(2);
    expect(column.stderr).to.match(/^sync-machine: Order has no column "colour" to filter on: use one of id, customerId, .*status/);
    const id = await cli('resync', 'OrderToApiSync', '--ids', '1,x');
    expect([id.code, id.stderr]).to.deep.equal([2, 'sync-machine: --ids: Order.id is an integer key, so ids must be ' +
      'whole numbers; "x" is not one. Nothing was done: fix it and run the command again.\n']);
    for (const run of [both, unknown, json, column, id]) expect(run.stderr).to.not.match(/\n\s+at /);
  });

  it('retry-failed says that it cleared failed queue jobs, which hold no work', async () => {
    const keys = new KeySpace(w.prefix);
    const queue = (suffix: 'failed' | 'jobs') => keys.queueKey('OrderToApiSync', 'ensure-publication', suffix);
    await redis.hset(queue('jobs'), '999', '#%garbage');
    await redis.sadd(queue('failed'), '999');
    const listed = await cli('status');
    expect(listed.stdout).to.include('failed queue jobs: 1 (corrupt or malformed run tickets');
    const retried = await cli('retry-failed', 'OrderToApiSync');
    expect(retried.code, retried.stderr).to.equal(0);
    // Before, it said only "No failed items", and the job was gone from status with no word of it (a trial).
    expect(retried.stdout).to.equal('No failed items of OrderToApiSync to run again. Cleared 1 failed queue job (corrupt ' +
      'or malformed run tickets, which held no work; the changes they stood for are in the work sets).\n');
    // Counted, not read: beyond the 1,000 jobs it once read to count them, it said "1000 or more".
    const many = Array.from({ length: 1_200 }, (_, i) => String(2_000 + i));
    await redis.hset(queue('jobs'), Object.fromEntries(many.map((id) => [id, '#%garbage'])));
    await redis.sadd(queue('failed'), ...many);
    expect((await cli('status', '--limit', '2')).stdout).to.include('failed queue jobs: 1200, 2 of them (corrupt');
    expect((await cli('retry-failed', 'OrderToApiSync')).stdout).to.include('Cleared 1200 failed queue jobs');
    expect(await redis.scard(queue('failed'))).to.equal(0);
    expect((await cli('retry-failed', 'OrderToApiSync')).stdout).to.equal('No failed items of OrderToApiSync to run again.\n');
  });

  it('retry-failed refused by Redis says so as retry-failed, not as the status it reads first', async () => {
    const failed = new KeySpace(w.prefix).queueKey('OrderToApiSync', 'ensure-publication', 'failed');
    await redis.set(failed, 'not a set');
    const retried = await cli('retry-failed', 'OrderToApiSync');
    expect(retried.code).to.equal(1);
    // Before: "status of OrderToApiSync: Redis refused to read it" (a trial).
    expect(retried.stderr).to.include('retryFailed(OrderToApiSync): Redis refused it');
    expect(retried.stderr).to.include(`${failed} is a string, where sync-machine keeps a set`);
    expect(retried.stderr).to.not.include('status of');
  });

  it('status shows queues, outcome counters, last publishes and failures with their errors; retry-failed puts failures back to run on current data', async () => {
    const [first, second] = await w.orders(2);
    const worker = await w.startWorker(); // captures too: the updates below enqueue
    await worker.resync('OrderToApiSync');
    await worker.drain({ timeoutMs: 20_000 });
    w.api.failNext = 2; // both attempts of the next run
    await w.dataSource.getRepository(typeOrmShop.Order).save({ ...first, status: 'received' });
    await worker.drain({ timeoutMs: 20_000 });

    const json = await cli('status', '--json');
    expect(json.code, json.stderr).to.equal(0);
    const report = JSON.parse(json.stdout);
    // The same shape as SyncMachines.status(), serialised: one format for scripts and for code.
    expect(report).to.deep.equal(JSON.parse(JSON.stringify(await worker.status())));
    const [status] = report;
    expect(status.machine).to.equal('OrderToApiSync');
    expect(status.workers, 'the worker runtime of this test').to.equal(1);
    expect(status.queues).to.deep.equal({
      'find-subjects': { waiting: 0, active: 0, delayed: 0, failed: 0, failedJobs: 0 },
      'ensure-publication': { waiting: 0, active: 0, delayed: 0, failed: 1, failedJobs: 0 },
    });
    const { 'ensure-publication:jobs': jobs, 'ensure-publication:batches': batches, ...outcomes } = status.outcomes;
    expect(outcomes).to.deep.equal({ 'ensure-publication:failed': 2, 'ensure-publication:published': 2 });
    expect(jobs).to.be.within(2, 4); // run tickets: the resync's, the update's, the retry's (it may share one)
    expect(batches).to.be.at.least(2); // batches those tickets ran: the resync's, the retry's, the update's (some may share)
    expect(status.lastPublishes.map((p: { subjectId: string }) => p.subjectId)).to.have.members([String(first.id), String(second.id)]);
    expect(status.failures).to.have.length(1);
    expect(status.failures[0]).to.include({ step: 'ensure-publication', entity: 'Order', id: String(first.id), attempts: 2 });
    expect(status.failures[0].error).to.equal(
      `OrderToApiSync.publish threw for Order ${first.id}: partner API answered 503 to PUT /orders/${first.id}`);

    const text = await cli('status');
    expect(text.code).to.equal(0);
    expect(text.stdout).to.include([
      'OrderToApiSync (subject Order)',
      '  workers: 1 running',
      '  queue               waiting  active  delayed  failed',
      '  find-subjects             0       0        0       0',
      '  ensure-publication        0       0        0       1',
    ].join('\n'));
    expect(text.stdout).to.match(/\n  outcomes: ensure-publication:batches \d, ensure-publication:failed 2, ensure-publication:jobs \d, ensure-publication:published 2\n  last publishes:\n/);
    expect(text.stdout).to.match(new RegExp(`    Order ${second.id}  \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z  \\(\\d+ s ago\\)`));
    expect(text.stdout).to.include('  failures: 1 recorded as failed (sync-machine retry-failed OrderToApiSync runs them again):\n' +
      `    ensure-publication Order ${first.id}  2 attempts, last failed `);
    expect(text.stdout).to.include(`      OrderToApiSync.publish threw for Order ${first.id}: partner API answered 503`);

    // A worker that starts now says them: a start does not run them again (a trial fixed its hook, restarted, and
    // its orders stayed stale, nothing said).
    const later = new MemoryLogger();
    await (await w.startWorker(later)).close();
    expect(later.warnings().filter((line) => line.includes('recorded as failed'))).to.deep.equal(['OrderToApiSync: 1 subject(s) ' +
      'recorded as failed (attempts used up) run again on a change of their own or on retryFailed, not at a start. Once ' +
      'what failed is fixed, run them from current data: `npx sync-machine retry-failed OrderToApiSync` or `await ' +
      'sync.retryFailed(OrderToApiSync)` (`status` lists them with their errors; a full resync runs failed subjects too, ' +
      'where it is due anyway).']);

    // Changed behind the ORM's back while the subject sat failed: the retried run must read it.
    await w.dataSource.query(`UPDATE orders SET status = 'cancelled' WHERE id = ${first.id}`);
    const none = await cli('retry-failed', 'OrderToApiSync', '--step', 'find-subjects');
    expect(none.stdout).to.equal('No failed find-subjects items of OrderToApiSync to run again.\n');
    const retried = await cli('retry-failed', 'OrderToApiSync');
    expect(retried.code, retried.stderr).to.equal(0);
    expect(retried.stdout).to.equal('Put back 1 failed item of OrderToApiSync (find-subjects 0, ensure-publication 1), ' +
      'with fresh attempts. A worker runs them from current data.\n');
    await worker.drain({ timeoutMs: 20_000 });
    await worker.close();
    const last = w.api.publishes(String(first.id)).at(-1);
    expect(last?.body).to.include({ order_status: 'cancelled' });
    const after = JSON.parse((await cli('status', 'OrderToApiSync', '--json')).stdout)[0];
    expect(after.queues['ensure-publication'].failed).to.equal(0);
    expect(after.lastPublishes[0].subjectId).to.equal(String(first.id));
    const clean = new MemoryLogger();
    await (await w.startWorker(clean)).close();
    expect(clean.warnings(), 'nothing failed any more: nothing said').to.deep.equal([]);

    const bad = await cli('retry-failed', 'OrderToApiSync', '--step', 'publish');
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include("argument 'publish' is invalid. Allowed choices are find-subjects, ensure-publication.");
  });

  it('status with a key of the wrong type names the key and the fix, exit code 1, without a stack trace', async () => {
    const pending = new KeySpace(w.prefix).step('OrderToApiSync', 'ensure-publication').pending;
    await redis.set(pending, 'not a zset');
    const run = await cli('status');
    // Before: "sync-machine: WRONGTYPE Operation against a key holding the wrong kind of value", naming no key.
    expect([run.code, run.stderr]).to.deep.equal([1, 'sync-machine: status of OrderToApiSync: Redis refused to read it ' +
      `(WRONGTYPE Operation against a key holding the wrong kind of value): ${pending} is a string, where sync-machine ` +
      `keeps a zset: delete it (redis-cli DEL '${pending}'), then resync OrderToApiSync.\n`]);
    await redis.del(pending);
    expect((await cli('status')).code).to.equal(0);
  });

  it('status names the work Redis holds under a machine name the config does not start (renamed or removed), and says nothing of one with none', async () => {
    const keys = new KeySpace(w.prefix);
    // A machine of an earlier release, renamed since: its counters, 2 subjects pending, 1 batch in a run.
    await redis.hset(keys.stats('OldOrderSync'), 'ensure-publication:published', '3000');
    await redis.zadd(keys.step('OldOrderSync', 'ensure-publication').pending, 0, '1', 0, '2');
    await redis.hset(keys.step('OldOrderSync', 'find-subjects').claims, 'run-1', `${Date.now()}\n["Customer\\n7","{}"]`);
    await redis.hset(keys.stats('Drained'), 'ensure-publication:published', '10');
    const run = await cli('status');
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include('\nRedis also holds work of machines this config does not start (renamed or removed?):\n' +
      '  OldOrderSync: 2 pending, 1 batch(es) in runs, no worker runs it. Run it out with a worker of the config that has ' +
      'it (same prefix). If it was renamed, move its payload rows to the new name before a worker of the new name runs ' +
      '(README, "Renaming a machine"): under a new name alone, every subject is published again from ctx.version 1. Then ' +
      'delete its keys.\n');
    expect(run.stdout).to.not.include('Drained');
    const json = await cli('status', '--json');
    expect(JSON.parse(json.stdout)).to.have.length(1);
    expect(json.stderr).to.include('OldOrderSync: 2 pending');
  });
  it('drain waits for the workers, prints what ended meanwhile; exit 1 with failures, and on --timeout with no worker said after 5 s', async () => {
    await w.orders(3);
    const worker = await w.startWorker(); // captures too: the updates below enqueue
    w.api.delayMs = 1_000; // the runs are still going when drain starts: it reports runs that end after its call
    const enqueued = await cli('resync', 'OrderToApiSync');
    expect(enqueued.code, enqueued.stderr).to.equal(0);
    const drained = await cli('drain', '--timeout', '20');
    expect([drained.code, drained.stderr]).to.deep.equal([0, '']);
    expect(drained.stdout).to.match(/^Drained OrderToApiSync in \d+\.\d s: published 3 \(runs that ended meanwhile, in any worker\)\.\n$/);

    const [first] = await w.dataSource.getRepository(typeOrmShop.Order).find({ order: { id: 'ASC' }, take: 1 });
    // Both attempts of the next run fail, each after a second: the drain below starts before they end.
    w.api.failNext = 2;
    w.api.delayMs = 1_000;
    await w.dataSource.getRepository(typeOrmShop.Order).save({ ...first, status: 'received' });
    const failed = await cli('drain', '--timeout', '20');
    w.api.delayMs = 0;
    expect(failed.code, failed.stdout + failed.stderr).to.equal(1);
    expect(failed.stdout).to.include(`OrderToApiSync: 1 subject(s) failed (attempts used up): ${first.id}: `);
    expect(failed.stdout).to.include('Once the cause is fixed: sync-machine retry-failed OrderToApiSync.');
    expect(failed.stderr).to.include('sync-machine: drained, but one thing needs a look (above).');
    // A later drain has no failure of its own to report, and still says the one recorded before it.
    const later = await cli('drain', '--timeout', '20');
    expect(later.code, later.stdout + later.stderr).to.equal(1);
    expect(later.stdout).to.include('OrderToApiSync: 1 item(s) stay recorded as failed from before this drain (sync-machine ' +
      'status OrderToApiSync shows them); once the cause is fixed: sync-machine retry-failed OrderToApiSync.');
    await worker.close();

    // No worker: said on stderr once drain has waited 5 s, then the timeout.
    expect((await cli('resync', 'OrderToApiSync', '--ids', String(first.id))).code).to.equal(0);
    const idle = await cli('drain', '--timeout', '6');
    expect(idle.code).to.equal(1);
    expect(idle.stderr).to.match(/\[sync-machine\] warning: drain\(\) has waited 5 s for OrderToApiSync ensure-publication: 1 pending, 0 batch\(es\) in runs\. No worker runs OrderToApiSync: .* drain\(\) waits for one until its timeout \(6000 ms after the call\)\./);
    expect(idle.stderr).to.match(/sync-machine: drain\(\) timed out after 6000 ms; still busy: OrderToApiSync ensure-publication: 1 pending/);
  });
  it('resync --wait counts every run of its subjects, however fast they end (a trial\'s resync && drain missed them)', async () => {
    await w.orders(4);
    const worker = await w.startWorker();
    const run = await cli('resync', 'OrderToApiSync', '--wait', '--timeout', '20');
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(new RegExp('^Enqueued 4 OrderToApiSync subjects for publication\\. Waiting for the workers to ' +
      'run them\\.\\nDrained OrderToApiSync in \\d+\\.\\d s: published 4 \\(runs that ended meanwhile, in any worker\\)\\.\\n$'));
    const alone = await cli('retry-failed', 'OrderToApiSync', '--timeout', '5');
    expect([alone.code, alone.stderr]).to.deep.equal([2, 'sync-machine: --timeout goes with --wait: retry-failed --wait --timeout <seconds>.\n']);
    await worker.close();
  });
});
