import { expect } from 'chai';
import Redis from 'ioredis';
import { KeySpace } from '../../lib/redis/keys';
import { typeOrmShop } from '../support/orms/typeorm';
import { REDIS_URL } from '../support/redis';
import { CliWorld, runInProcess, SHOP_CONFIG } from './support/cli-world';

/** `sync-machine diff` and `sync-machine status <Machine> --subject <id>` against PostgreSQL and Redis. */
describe('sync-machine diff and status --subject (PostgreSQL, Redis)', () => {
  let w: CliWorld;
  let redis: Redis;
  const cli = (...argv: string[]) => runInProcess(['--config', SHOP_CONFIG, ...argv]);

  /** The prefix's keys, but Bee-Queue's stall-check marker, which the closed worker left to expire on its own. */
  const prefixKeys = async () => (await redis.keys(new KeySpace(w.prefix).pattern())).filter((k) => !k.endsWith(':stallBlock')).sort();


  beforeEach(async () => {
    w = await new CliWorld().setUp();
    w.exportEnv();
    redis = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    redis.disconnect();
    await w.tearDown();
  });

  it('diff prints what a run would change, field by field, and publishes and writes nothing', async () => {
    const [first, second, third] = await w.orders(3);
    const worker = await w.startWorker();
    await worker.resync('OrderToApiSync', { ids: [first.id, second.id] });
    await worker.drain({ timeoutMs: 20_000 });
    await worker.close();
    // Behind the ORM's back: a status change, and a withdrawal.
    await w.dataSource.query(`UPDATE orders SET status = 'shipped' WHERE id = ${first.id}`);
    await w.dataSource.query(`UPDATE orders SET status = 'draft' WHERE id = ${second.id}`);
    const sent = w.api.received.length;
    const keys = await prefixKeys();

    const text = await cli('diff', 'OrderToApiSync');
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.equal([
      'OrderToApiSync: 3 subjects checked: 2 differ, 1 not publishable (1 would be unpublished), 0 unchanged, 0 failed to build.',
      'Dry run: nothing was published or written.',
      '',
      'differ (a run would publish):',
      `  Order ${first.id}  order_status: "purchased" -> "shipped"`,
      `  Order ${third.id}  not published yet: {"customer_full_name":"Jane Yang","id":"${third.id}","order_status":"purchased","version":0}`,
      '',
      'not publishable:',
      `  Order ${second.id}  @CheckPublishable says no; published before: a run would unpublish it`,
      '',
    ].join('\n'));

    const json = await cli('diff', 'OrderToApiSync', '--ids', `${first.id},${third.id}`, '--json');
    expect(json.code, json.stderr).to.equal(0);
    const report = JSON.parse(json.stdout);
    expect(report).to.deep.include({ machine: 'OrderToApiSync', subject: 'Order', checked: 2, unchanged: 0, limited: false });
    expect(report.differing.map((d: { subjectId: string }) => d.subjectId)).to.deep.equal([String(first.id), String(third.id)]);
    expect(report.differing[0].stored.order_status).to.equal('purchased');
    expect(report.differing[0].built.order_status).to.equal('shipped');

    const limited = await cli('diff', 'OrderToApiSync', '--where', '{"status":"purchased"}', '--limit', '0');
    expect(limited.stdout).to.match(/^OrderToApiSync: 0 subjects checked \(--limit reached; more exist\): 0 differ/);

    expect(w.api.received.length).to.equal(sent);
    expect(await prefixKeys()).to.deep.equal(keys);
    const both = await cli('diff', 'OrderToApiSync', '--ids', '1', '--where', '{"status":"shipped"}');
    expect([both.code, both.stderr]).to.deep.equal([2, 'sync-machine: --ids and --where exclude each other: pick the subjects one way.\n']);
    const badIds = await cli('diff', 'OrderToApiSync', '--ids', '1,x,2.5');
    expect([badIds.code, badIds.stderr]).to.deep.equal([2, 'sync-machine: --ids: Order.id is an integer key, so ids must be whole ' +
      'numbers; "x", "2.5" are not. Nothing was done: fix them and run the command again.\n']);
    const unknown = await cli('diff', 'CustomerSync');
    expect([unknown.code, unknown.stderr]).to.deep.equal([2, 'sync-machine: Unknown machine "CustomerSync": the config starts OrderToApiSync.\n']);
  });

  it('status --subject prints the last publish, pending and the failure of one subject; --json too', async () => {
    const [order] = await w.orders(1);
    const worker = await w.startWorker();
    await worker.resync('OrderToApiSync', { ids: [order.id] });
    await worker.drain({ timeoutMs: 20_000 });

    const published = await cli('status', 'OrderToApiSync', '--subject', String(order.id));
    expect(published.code, published.stderr).to.equal(0);
    expect(published.stdout).to.match(new RegExp([
      `^OrderToApiSync: Order ${order.id}`,
      '  row:       in the database',
      '  published: \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z, digest [0-9a-f]{64}, version 1',
      '  pending:   no',
      '  failed:    no\n$',
    ].join('\n')));

    w.api.failNext = 2; // both attempts
    await w.dataSource.getRepository(typeOrmShop.Order).save({ ...order, status: 'received' });
    await worker.drain({ timeoutMs: 20_000 });
    await worker.close();
    const failed = JSON.parse((await cli('status', 'OrderToApiSync', '--subject', String(order.id), '--json')).stdout);
    expect(failed).to.deep.include({ machine: 'OrderToApiSync', subject: 'Order', subjectId: String(order.id), exists: true, pending: false });
    expect(failed.published.digest).to.match(/^[0-9a-f]{64}$/);
    expect(failed.failed).to.deep.include({
      attempts: 2, error: `OrderToApiSync.publish threw for Order ${order.id}: partner API answered 503 to PUT /orders/${order.id}`,
    });
    const text = await cli('status', 'OrderToApiSync', '--subject', String(order.id));
    expect(text.stdout).to.match(/\n  failed: {4}\d{4}-[\d-]+T[\d:.]+Z after 2 attempts \(sync-machine retry-failed OrderToApiSync runs it again\)\n/);
    expect(text.stdout).to.include(`\n    OrderToApiSync.publish threw for Order ${order.id}: partner API answered 503`);

    // Pending: a change no worker has run yet.
    await w.dataSource.getRepository(typeOrmShop.Order).save({ ...order, status: 'shipped' }); // no runtime captures it
    await cli('resync', 'OrderToApiSync', '--ids', String(order.id));
    expect((await cli('status', 'OrderToApiSync', '--subject', String(order.id))).stdout).to.include('\n  pending:   yes');

    // An id that names no row (a trial's read as a subject never published).
    const missing = await cli('status', 'OrderToApiSync', '--subject', '99999');
    expect(missing.stdout).to.include('\n  row:       not in the database (no such row, or removed)\n  published: never (or unpublished since)\n');

    const malformed = await cli('status', 'OrderToApiSync', '--subject', '4x');
    expect([malformed.code, malformed.stderr]).to.deep.equal([2, 'sync-machine: --subject: Order.id is an ' +
      'integer key, so ids must be whole numbers; "4x" is not one. Nothing was done: fix it and run the command again.\n']);
    const none = await cli('status', '--subject', '1');
    expect([none.code, none.stderr]).to.deep.equal([2, 'sync-machine: --subject needs exactly one machine: sync-machine status <machine> --subject 1.\n']);
  });
});
