import { expect } from 'chai';
import Redis from 'ioredis';
import { formatStatus } from '../../lib/cli/commands/status';
import { ticketJson } from '../../lib/queue/bee-queue-storage';
import { KeySpace } from '../../lib/redis/keys';
import { Harness } from '../support/harness';
import { REDIS_URL } from '../support/redis';

/*
 * Values in sync-machine's own keys written by hand (or by another version), found in an outside trial: each one
 * used to end the scripts that read it, so a machine stopped, with no log line, or lost every commit of its inbox.
 * Now the bad value is set aside or read as harmless, and the rest of the work goes on (SPEC §2, bad input).
 */
describe('corrupt values in sync-machine keys (TypeORM + SQLite, shared Redis, fresh prefix)', function () {
  this.timeout(60_000);
  const DRAIN = { timeoutMs: 20_000 };
  let h: Harness;
  let redis: Redis;
  let keys: KeySpace;

  beforeEach(async () => {
    h = await new Harness('sqlite', 'corrupt-keys').setUp();
    redis = new Redis(REDIS_URL);
    keys = new KeySpace(h.prefix);
  });
  afterEach(async () => {
    redis.disconnect();
    await h.tearDown();
  });

  async function until(condition: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error('condition not met in 10 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const statuses = (ids: number[]) => ids.map((id) => h.api.documents.get(String(id))?.order_status);

  it('unreadable inbox entries: the commits around them still run, and a worker names them in one error', async () => {
    const app = await h.start(); // captures only: the commits wait in the inboxes for a worker
    const publications = keys.step('OrderToApiSync', 'ensure-publication');
    const lookups = keys.step('OrderToApiSync', 'find-subjects');
    await redis.rpush(publications.inbox, 'garbage-no-newline', '123\n[{"x":1},null,"77"]');
    await redis.rpush(lookups.inbox, 'abc\nnotjson');
    const customer = await h.customer();
    const orders = [await h.order(customer), await h.order(customer), await h.order(customer)];
    await redis.rpush(publications.inbox, '456\n[]\n[["5","notanobject"]]');
    await redis.rpush(lookups.inbox, '456\n[]\n[["Customer:6","notanobject"]]');
    await h.update(orders[2], { status: 'shipped' });
    await h.w.updateCustomer(customer.id, { firstName: 'Janet' }); // a find-subjects change, after the bad entries
    expect(await redis.llen(publications.inbox), 'the commits went to the inbox').to.be.greaterThan(2);

    const worker = await h.startWorker();
    const summary = await app.drain(DRAIN);
    // Before, a decode error ended the script after it had deleted the inbox: 0 of 3 orders published, no log line.
    expect(statuses(orders.map((o) => o.id))).to.deep.equal(['purchased', 'purchased', 'shipped']);
    expect(orders.every((o) => h.api.documents.get(String(o.id))?.customer_full_name === 'Janet Yang')).to.equal(true);
    const reports = h.logger.errors().filter((e) => /inbox entr(y|ies) could not be read/.test(e));
    expect(reports.join('\n')).to.include('ensure-publication of OrderToApiSync: 3 inbox entries could not be read ' +
      '(written by hand or by another version of sync-machine): "garbage-no-newline", "123\\n[{\\"x\\":1},null,\\"77\\"]", ' +
      '"456\\n[]\\n[[\\"5\\",\\"notanobject\\"]]". The rest of the inbox was kept, and so were the readable items of these. ' +
      'The changes in them may be missing: resync(OrderToApiSync) (unchanged subjects cost no API call); status and drain ' +
      'say so until a full resync.');
    expect(reports.join('\n')).to.include('find-subjects of OrderToApiSync: 2 inbox entries could not be read');
    expect(reports).to.have.length(2); // said once, then cleared
    // The readable item of the mixed entry was kept: order 77 does not exist, so its run found it gone.
    expect(h.logger.lines.some((l) => /Order 77 is gone/.test(l.message)), h.logger.lines.map((l) => l.message).join('\n')).to.equal(true);

    // Told by drain and status until a full resync: before, only the log said it, and status read clean while the
    // changes of those entries were missing (a trial: 500 orders stale, "failures: none").
    expect(summary.unreadable.map((u) => [u.machine, u.count])).to.deep.equal([['OrderToApiSync', 5]]);
    const [status] = await worker.status();
    expect(status.unreadable?.count).to.equal(5);
    expect(formatStatus([status], h.prefix).join('\n')).to.include('  5 inbox entries could not be read (written by hand ' +
      'or by another version; the latest found ');
    await worker.resync(h.shop.OrderToApiSync, { ids: [orders[0].id] });
    expect((await worker.status())[0].unreadable?.count, 'a resync of some ids covers no more than those').to.equal(5);
    await worker.resync(h.shop.OrderToApiSync);
    await worker.drain(DRAIN);
    expect((await worker.status())[0].unreadable).to.equal(undefined);
    expect((await app.drain(DRAIN)).unreadable).to.deep.equal([]);
  });

  it('a changed-row item that names no entity is recorded as failed, saying what it should look like', async () => {
    const worker = await h.startWorker();
    await redis.zadd(keys.step('OrderToApiSync', 'find-subjects').pending, 0, 'Customer');
    await h.customer(); // a mark of the step, which makes a ticket for what is pending
    await worker.drain(DRAIN);
    // It was read as entity "Custome" and reported as "has no @SubjectIdsFrom(Custome)".
    const [status] = await worker.status();
    expect(status.failures.map((f) => [f.id, f.error])).to.deep.equal([['Customer',
      'the changed-row item "Customer" is not "<Entity>:<id>"; it was written by a different version of the app, or by hand.']]);
  });

  it('a lock value not of sync-machine\'s form holds nothing back; a non-numeric pause pauses nothing', async () => {
    const worker = await h.startWorker();
    const customer = await h.customer();
    const orders = [await h.order(customer), await h.order(customer)];
    await worker.drain(DRAIN);
    await redis.hset(keys.locks('OrderToApiSync'), String(orders[0].id), 'xyz');
    await redis.set(keys.paused('OrderToApiSync'), 'banana');
    await h.update(orders[0], { status: 'shipped' });
    await h.update(orders[1], { status: 'shipped' });
    // Before: the take failed on every ticket with the garbage lock in its batch, and every mark and take on the
    // pause ("attempt to compare number with nil"): nothing ran, and the app's commits were logged as dropped.
    await worker.drain(DRAIN);
    expect(statuses(orders.map((o) => o.id))).to.deep.equal(['shipped', 'shipped']);
    expect(h.logger.errors(), h.logger.errors().join('\n')).to.deep.equal([]);
  });

  it('a delayed ticket overdue that no worker was told of (saved while Redis was down) runs within seconds', async () => {
    await h.startWorker();
    // A retry saved while Redis was down: its MULTI ran on reconnect, its message to the workers before they were back
    // subscribed. Bee-Queue's timer knew nothing of it, and the step's only ticket sat in the delayed set (a trial: a
    // machine's find-subjects stalled for good after a 15 s outage, changes piling up).
    const id = String(await redis.incr(h.queueKey('find-subjects', 'id')));
    await redis.hset(h.queueKey('find-subjects', 'jobs'), id, ticketJson('OrderToApiSync', 'find-subjects'));
    await redis.zadd(h.queueKey('find-subjects', 'delayed'), Date.now() - 1_000, id);
    await until(async () => (await redis.zcard(h.queueKey('find-subjects', 'delayed'))) === 0);
    await until(async () => (await redis.hexists(h.queueKey('find-subjects', 'jobs'), id)) === 0); // run, and done
  });

  it('a pause set far ahead by hand and then deleted holds work back for at most 10 s, not until its end', async () => {
    const worker = await h.startWorker();
    const order = await h.order(await h.customer());
    await worker.drain(DRAIN);
    const [seconds] = await redis.time();
    await redis.set(keys.paused('OrderToApiSync'), String(Number(seconds) * 1000 + 86_400_000)); // a day
    await h.update(order, { status: 'shipped' });
    const delayed = h.queueKey('ensure-publication', 'delayed');
    await until(async () => (await redis.zcard(delayed)) > 0);
    const [, at] = await redis.zrange(delayed, 0, 0, 'WITHSCORES');
    expect(Number(at) - Number(seconds) * 1000, 'the paused machine\'s ticket is due').to.be.below(12_000);
    await redis.del(keys.paused('OrderToApiSync'));
    // Before, the only ticket waited for the day's end: the change stayed pending while nothing was paused.
    await worker.drain({ timeoutMs: 15_000 });
    expect(statuses([order.id])).to.deep.equal(['shipped']);
    expect(h.logger.errors(), h.logger.errors().join('\n')).to.deep.equal([]);
  });

  it('a key of the wrong type: the ticket that Redis refuses says so, and the work runs once the key is gone', async () => {
    const worker = await h.startWorker();
    const order = await h.order(await h.customer());
    await worker.drain(DRAIN);
    const locks = keys.locks('OrderToApiSync');
    await redis.set(locks, 'not a hash');
    await h.update(order, { status: 'shipped' });
    const deadline = Date.now() + 10_000;
    while (!h.logger.errors().some((e) => /run ticket \d+ stopped, as Redis refused its script: .*WRONGTYPE/.test(e))) {
      if (Date.now() > deadline) throw new Error(`no error said why: ${h.logger.errors().join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Before, it said "a key under the prefix was changed by hand: delete it", of the script's 18 keys.
    const refused = h.logger.errors().find((e) => /run ticket \d+ stopped/.test(e))!;
    expect(refused).to.include(`${locks} is a string, where sync-machine keeps a hash: delete it (redis-cli DEL '${locks}'), ` +
      'then resync OrderToApiSync. The work stays in Redis for the next ticket.');
    // Every ticket of the step is refused until the key is fixed: said once a minute, not at each (a trial: 69 lines in 70 s).
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(h.logger.errors().filter((e) => /run ticket \d+ stopped/.test(e))).to.have.length(1);
    await redis.del(locks);
    await worker.drain(DRAIN);
    expect(statuses([order.id])).to.deep.equal(['shipped']);
  });

  it('status() of a machine with a key of the wrong type names the key, its type and the fix', async () => {
    const worker = await h.startWorker();
    const published = keys.recentPublishes('OrderToApiSync');
    await redis.set(published, 'not a list');
    // Before, Redis' bare "WRONGTYPE Operation against a key holding the wrong kind of value", naming no key.
    const error = await worker.status().then(() => undefined, (e: Error) => e);
    expect(error?.name).to.equal('WrongKeyTypeError');
    expect(error?.message).to.equal('status of OrderToApiSync: Redis refused to read it (WRONGTYPE Operation against a ' +
      `key holding the wrong kind of value): ${published} is a string, where sync-machine keeps a list: delete it ` +
      `(redis-cli DEL '${published}'), then resync OrderToApiSync.`);
    await redis.del(published);
    expect((await worker.status()).map((s) => s.machine)).to.deep.equal(['OrderToApiSync']);
  });

  it('drain() with a work-set key of the wrong type names it at once, not as a Redis that did not answer', async () => {
    const worker = await h.startWorker();
    const pending = keys.step('OrderToApiSync', 'ensure-publication').pending;
    await redis.set(pending, 'not a sorted set');
    const started = Date.now();
    const error = await worker.drain({ timeoutMs: 5_000 }).then(() => undefined, (e: Error) => e);
    expect(Date.now() - started).to.be.below(4_000);
    expect(error?.name).to.equal('WrongKeyTypeError');
    expect(error?.message).to.include(`${pending} is a string, where sync-machine keeps a zset: delete it (redis-cli DEL '${pending}'), ` +
      'then resync OrderToApiSync.');
    await redis.del(pending);
    await worker.drain(DRAIN);
  });

  it('drain() with an inbox of the wrong type, which its reads do not touch, names it within seconds; so do the failed changes', async () => {
    const capture = await h.start();
    const customer = await h.customer();
    const orders = [await h.order(customer), await h.order(customer)]; // pending: no worker yet
    const inbox = keys.step('OrderToApiSync', 'ensure-publication').inbox;
    await redis.set(inbox, 'not a list');
    const worker = await h.startWorker({ worker: { concurrency: 10, retry: { attempts: 1, initialDelayMs: 10 } } });
    // Writes go on meanwhile, moving the other step's work set (a trial's drain named nothing until they stopped).
    let writing = true;
    const writes = (async () => {
      for (let i = 0; writing; i += 1) {
        await h.w.updateCustomer(customer.id, { lastName: `Yang${i}` });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const started = Date.now();
    const error = await worker.drain({ timeoutMs: 15_000 }).then(() => undefined, (e: Error) => e);
    writing = false;
    await writes;
    // Before, it waited out its timeout and listed what waited (a trial: 120 s, naming runs that had stopped).
    expect(Date.now() - started, 'well before the timeout').to.be.below(10_000);
    expect(error?.name, error?.message).to.equal('WrongKeyTypeError');
    expect(error?.message).to.match(new RegExp(`^drain\\(\\): work has not moved for \\d+ s, and Redis holds keys of the ` +
      "wrong type, which refuse the runs' scripts: "));
    expect(error?.message).to.include(`${inbox} is a string, where sync-machine keeps a list: delete it (redis-cli DEL ` +
      `'${inbox}'), then resync OrderToApiSync.`);

    // A changed row mapped to its orders: their mark is refused, and its failure names the key and the fix, not
    // Redis' bare "WRONGTYPE ... script: <sha>" (a trial's 50 failed changes). resync() names it too.
    await h.w.updateCustomer(customer.id, { firstName: 'Ann', lastName: 'Yang' });
    const resync = await capture.resync('OrderToApiSync').then(() => undefined, (e: Error) => e);
    expect(resync?.name).to.equal('WrongKeyTypeError');
    expect(resync?.message).to.include(`resync(OrderToApiSync): Redis refused it (WRONGTYPE Operation against a key holding ` +
      `the wrong kind of value`);
    expect(resync?.message).to.include(`${inbox} is a string, where sync-machine keeps a list`);
    await until(async () => (await redis.hlen(keys.step('OrderToApiSync', 'find-subjects').failed)) > 0);
    await redis.del(inbox);
    const [status] = await worker.status();
    expect(status.failures.filter((f) => f.step === 'find-subjects').map((f) => f.error)).to.deep.equal([
      `WRONGTYPE Operation against a key holding the wrong kind of value: ${inbox} is a string, where sync-machine keeps ` +
      `a list: delete it (redis-cli DEL '${inbox}'), then resync OrderToApiSync, and retry-failed OrderToApiSync for what ` +
      'failed meanwhile (a subject whose lock a refused run held runs once it expires: worker.lockTtlMs, 30 s)']);
    await worker.retryFailed('OrderToApiSync');
    await worker.resync('OrderToApiSync');
    await worker.drain(DRAIN);
    expect(orders.map((o) => h.api.documents.get(String(o.id))?.customer_full_name)).to.deep.equal(['Ann Yang', 'Ann Yang']);
  });

  it('subjectStatus() and retryFailed() with a key of the wrong type name it and the fix, and retryFailed loses no failure', async () => {
    const worker = await h.startWorker({ worker: { retry: { attempts: 1, initialDelayMs: 10 } } });
    const customer = await h.customer();
    await worker.drain(DRAIN);
    h.api.failNext = 1;
    const order = await h.order(customer);
    await worker.drain(DRAIN);
    expect((await worker.subjectStatus('OrderToApiSync', order.id)).failed?.attempts).to.equal(1);
    const step = keys.step('OrderToApiSync', 'ensure-publication');
    await redis.set(step.failed, 'not a hash');
    // Before, both rejected with Redis' bare "WRONGTYPE Operation against a key holding the wrong kind of value".
    const status = await worker.subjectStatus('OrderToApiSync', order.id).then(() => undefined, (e: Error) => e);
    expect(status?.name).to.equal('WrongKeyTypeError');
    expect(status?.message).to.equal(`subjectStatus(OrderToApiSync, ${order.id}): Redis refused to read it (WRONGTYPE Operation ` +
      `against a key holding the wrong kind of value): ${step.failed} is a string, where sync-machine keeps a hash: delete it ` +
      `(redis-cli DEL '${step.failed}'), then resync OrderToApiSync.`);
    await redis.del(step.failed);

    h.api.failNext = 1;
    await h.update(order, { status: 'shipped' });
    await worker.drain(DRAIN);
    await redis.set(step.pending, 'not a sorted set'); // the failure can be read, and not made pending again
    const retried = await worker.retryFailed('OrderToApiSync').then(() => undefined, (e: Error) => e);
    expect(retried?.name).to.equal('WrongKeyTypeError');
    expect(retried?.message).to.include('retryFailed(OrderToApiSync): Redis refused it, and the failures it did not take are ' +
      `still recorded (`);
    expect(retried?.message).to.include(`${step.pending} is a string, where sync-machine keeps a zset: delete it ` +
      `(redis-cli DEL '${step.pending}'), then resync OrderToApiSync.`);
    expect(await redis.hkeys(step.failed)).to.deep.equal([String(order.id)]);
    await redis.del(step.pending);
    expect(await worker.retryFailed('OrderToApiSync')).to.deep.equal({ 'find-subjects': 0, 'ensure-publication': 1 });
    await worker.drain(DRAIN);
    expect(statuses([order.id])).to.deep.equal(['shipped']);
  });

  it('status() leaves out an entry of the latest publishes that is not "<ms> <id>" and shows the others', async () => {
    const worker = await h.startWorker();
    const order = await h.order(await h.customer());
    await worker.drain(DRAIN);
    // An outside trial: LPUSH of 'notjson]]' made status throw "Invalid time value", naming nothing.
    await redis.lpush(keys.recentPublishes('OrderToApiSync'), 'notjson]]', 'x 7');
    const [status] = await worker.status();
    expect(status.lastPublishes.map((p) => p.subjectId)).to.deep.equal([String(order.id)]);
    expect(status.lastPublishes[0].at.toISOString()).to.match(/^\d{4}-/);
  });

  it('a commit whose enqueue Redis refuses for a key of the wrong type: the dropped-changes log names the key', async () => {
    await h.start(); // captures only
    const order = await h.order(await h.customer());
    const inbox = keys.step('OrderToApiSync', 'ensure-publication').inbox;
    await redis.set(inbox, 'not a list');
    await h.update(order, { status: 'shipped' });
    await until(async () => h.logger.errors().some((e) => /Could not enqueue/.test(e)));
    const dropped = h.logger.errors().find((e) => /Could not enqueue/.test(e))!;
    expect(dropped).to.match(/^Could not enqueue 1 committed change\(s\) \(.*WRONGTYPE/);
    expect(dropped).to.include(`${inbox} is a string, where sync-machine keeps a list: delete it (redis-cli DEL '${inbox}'), ` +
      `then resync OrderToApiSync); dropped: update Order ${order.id}.`);
  });

  it('an outcome counter overwritten by hand starts again, and the run it counts still ends', async () => {
    const worker = await h.startWorker();
    const order = await h.order(await h.customer());
    await worker.drain(DRAIN);
    await redis.hset(keys.stats('OrderToApiSync'), 'ensure-publication:published', 'abc', 'ensure-publication:jobs', 'x');
    await h.update(order, { status: 'shipped' });
    await worker.drain(DRAIN);
    await h.update(order, { status: 'received' });
    await worker.drain(DRAIN);
    expect(statuses([order.id])).to.deep.equal(['received']);
    expect(await redis.hget(keys.stats('OrderToApiSync'), 'ensure-publication:published')).to.equal('2');
    expect(h.logger.errors(), h.logger.errors().join('\n')).to.deep.equal([]);
  });
});
