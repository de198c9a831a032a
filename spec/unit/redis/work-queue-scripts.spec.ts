import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { lockToken } from '../../../lib/pipeline/batch-locks';
import { decodeRequest, encodeRequest } from '../../../lib/pipeline/requests';
import { ingestInbox, MAX_TICKETS, ticketRun, WorkQueue } from '../../../lib/pipeline/work-queue';
import { KeySpace } from '../../../lib/redis/keys';
import { readBusy, readMachineStatus } from '../../../lib/runtime/status';
import { deleteKeys, freshPrefix, REDIS_URL } from '../../support/redis';

/**
 * The work set's scripts through WorkQueue, on the shared Redis under a fresh prefix: what take hands a run for
 * an item requested bare, and how finish ends a batch whose items ended differently.
 */
describe('work queue scripts (shared Redis, fresh prefix)', () => {
  let redis: Redis;
  let prefix: string;
  beforeEach(() => { redis = new Redis(REDIS_URL); prefix = freshPrefix('work-queue'); });
  afterEach(async () => { redis.disconnect(); await deleteKeys(prefix); });
  const keys = () => new KeySpace(prefix);
  const queue = (debounceMs: number) => new WorkQueue(redis, keys(), 'M', 'ensure-publication', { batchSize: 10, debounceMs });
  const redisMs = async () => { const [s, us] = await redis.time(); return Number(s) * 1000 + Math.floor(Number(us) / 1000); };
  const retry = { attempts: 2, initialDelayMs: 10 };

  for (const debounceMs of [0, 50]) {
    it(`a bare item is taken with the time of its first request, not when it became ready (debounceMs ${debounceMs})`, async () => {
      const work = queue(debounceMs);
      const before = await redisMs();
      await work.mark([['1', {}]]);
      await new Promise((r) => setTimeout(r, 5));
      await work.mark([['1', {}]]); // coalesces: the first request's time stays
      const after = await redisMs();
      await new Promise((r) => setTimeout(r, debounceMs + 10));
      const batch = await work.take(ticketRun('T', 'T:run'), true, 10_000);
      expect(batch.items.map((i) => i.item)).to.deep.equal(['1']);
      const firstAt = decodeRequest(batch.items[0].raw, 'spec').firstAt!;
      expect(firstAt).to.be.within(before, after - 5);
    });
  }

  it('an item whose lock another run holds is tried again by the time that lock expires, however often it was held', async () => {
    const work = queue(0);
    await work.mark([['1', {}]]);
    // Held seven times before: its backoff alone would be 5 s (jittered up to 7.5 s).
    await redis.hset(keys().step('M', 'ensure-publication').requests, '1', JSON.stringify({ at: '1', held: '7' }));
    const expires = (await redisMs()) + 300;
    await redis.hset(keys().locks('M'), '1', `${lockToken('other', randomUUID())}|${expires}`);
    const batch = await work.take(ticketRun('T', 'T:run'), true, 10_000);
    expect([batch.items.length, batch.held]).to.deep.equal([0, 1]);
    const [, score] = await redis.zrange(keys().step('M', 'ensure-publication').pending, 0, 0, 'WITHSCORES');
    // Before, 2.5-7.5 s later: a dead run's subjects waited that long past its locks (a trial's drain took 16-18 s).
    expect(Number(score)).to.be.within(expires, expires + 30);
  });

  it('merges requests with fields into those pending, within one mark and across marks', async () => {
    const work = new WorkQueue(redis, keys(), 'M', 'find-subjects', { batchSize: 10, debounceMs: 0 });
    const before = await redisMs();
    await work.mark([['Customer:1', encodeRequest({ op: 'update', changedKeys: ['firstName'] })]]);
    await new Promise((r) => setTimeout(r, 5));
    // A row written twice in one flush (MikroORM sends both), and a new one.
    await work.mark([
      ['Customer:1', encodeRequest({ op: 'update', changedKeys: ['lastName'] })],
      ['Customer:2', encodeRequest({ op: 'insert', changedKeys: ['id'] })],
      ['Customer:1', encodeRequest({ op: 'remove', changedKeys: ['email'], snapshot: { id: 1, email: 'a@b' } })],
    ]);
    const afterFirst = await redisMs();

    const batch = await work.take(ticketRun('T', 'T:run'), true, 10_000);
    const taken = Object.fromEntries(batch.items.map((i) => [i.item, decodeRequest(i.raw, 'spec')]));
    expect(Object.keys(taken).sort()).to.deep.equal(['Customer:1', 'Customer:2']);
    expect(taken['Customer:1'].ops.sort()).to.deep.equal(['remove', 'update']);
    expect(taken['Customer:1'].changedKeys.sort()).to.deep.equal(['email', 'firstName', 'lastName']);
    expect(taken['Customer:1'].snapshot).to.deep.equal({ id: 1, email: 'a@b' });
    // The time of the first request stays, for the item pending before the second mark.
    expect(taken['Customer:1'].firstAt).to.be.within(before, afterFirst - 5);
    expect(taken['Customer:2'].ops).to.deep.equal(['insert']);
  });

  for (const inbox of [false, true]) {
    it(`records a mark of 12,000 requests (sent in scripts of 5,000) as one would be${inbox ? ', through the inbox' : ''}`, async () => {
      const work = new WorkQueue(redis, keys(), 'M', 'find-subjects', { batchSize: 500, debounceMs: 0 });
      const requests: Array<[string, Record<string, string>]> = [];
      for (let i = 0; i < 12_000; i++) {
        requests.push([`Customer:${i}`, i % 2 ? encodeRequest({ op: 'update', changedKeys: ['lastName'] }) : {}]);
      }
      // The same row again in a later script of the same mark: its requests merge.
      requests.push(['Customer:1', encodeRequest({ op: 'remove', changedKeys: ['email'], snapshot: { id: 1 } })]);
      await work.mark(requests, inbox);

      await ingestInbox(redis, keys().step('M', 'find-subjects'));
      const step = keys().step('M', 'find-subjects');
      expect(await redis.zcard(step.pending)).to.equal(12_000);
      expect(await redis.hlen(step.requests), 'a request kept for each item with fields').to.equal(6_000);
      const merged = decodeRequest((await redis.hget(step.requests, 'Customer:1'))!, 'spec');
      expect(merged.ops.sort()).to.deep.equal(['remove', 'update']);
      expect(merged.changedKeys.sort()).to.deep.equal(['email', 'lastName']);
      expect(merged.snapshot).to.deep.equal({ id: 1 });
    });
  }

  it('finish counts each outcome, lists publishes in order, releases the locks, and puts failures back or records them', async () => {
    const work = queue(0);
    await work.mark(['1', '2', '3', '4', '5', '6'].map((id) => [id, {}]));
    await work.mark([['6', { attempt: '1' }]]); // a subject on its last attempt
    const batch = await work.take(ticketRun('T', 'T:run'), true, 10_000);
    expect(batch.items.map((i) => i.item).sort()).to.deep.equal(['1', '2', '3', '4', '5', '6']);
    await work.finish(ticketRun('T', 'T:run'), batch.claim, [
      ['3', 'published', null], ['1', 'unchanged', null], ['5', 'failed', 'boom'], ['2', 'published', null],
      ['4', 'unchanged', null], ['6', 'failed', 'boom again'],
    ], retry, 'end');

    const step = keys().step('M', 'ensure-publication');
    const stats = await redis.hgetall(keys().stats('M'));
    expect(stats).to.deep.include({
      'ensure-publication:published': '2', 'ensure-publication:unchanged': '2', 'ensure-publication:failed': '2',
      'ensure-publication:batches': '1',
    });
    const recent = (await redis.lrange(keys().recentPublishes('M'), 0, -1)).map((entry) => entry.split(' ')[1]);
    expect(recent, 'newest first').to.deep.equal(['2', '3']);
    expect(await redis.hlen(keys().locks('M')), 'locks released').to.equal(0);
    expect(await redis.hlen(step.claims), 'claim released').to.equal(0);
    // 5 failed its first attempt: back in pending with attempt 1. 6 failed its last: recorded, not pending.
    expect(await redis.zrange(step.pending, 0, -1)).to.deep.equal(['5']);
    expect(decodeRequest((await redis.hget(step.requests, '5'))!, 'spec').attempt).to.equal(1);
    const failed = JSON.parse((await redis.hget(step.failed, '6'))!);
    expect(failed).to.deep.include({ error: 'boom again', attempts: 2, step: 'ensure-publication' });
    // Redis' time in µs as well, as a string of digits: `at` (ms) could not tell a drain's call from a failure in its ms.
    expect(failed.us).to.match(/^\d{16}$/);
    expect(Math.floor(Number(failed.us) / 1000)).to.equal(failed.at);
    expect(await redis.hexists(step.failed, '5')).to.equal(0);
  });

  it('a take sent again (its reply lost with the connection) hands the run the batch it took, not its own items as held', async () => {
    const work = queue(0);
    await work.mark(['1', '2', '3'].map((id) => [id, {}]));
    const run = ticketRun('T', lockToken('T', randomUUID()));
    const first = await work.take(run, true, 10_000);
    await work.mark([['4', {}]]);
    const locks = await redis.hgetall(keys().locks('M'));
    // What ioredis does after a reconnect: the same command once more.
    const again = await work.take(run, true, 10_000);
    expect(again.items.map((i) => i.item)).to.deep.equal(first.items.map((i) => i.item));
    expect([again.claim, again.held, again.orphaned]).to.deep.equal([first.claim, 0, undefined]);
    expect(await redis.hgetall(keys().locks('M'))).to.deep.equal(locks);
    const step = keys().step('M', 'ensure-publication');
    expect(await redis.zrange(step.pending, 0, -1), 'the item marked since waits for the next take').to.deep.equal(['4']);
    expect(await redis.hget(keys().stats('M'), 'ensure-publication:jobs')).to.equal('1');
    // Once it has finished that batch, a take of the run takes anew.
    await work.finish(run, first.claim, first.items.map((i) => [i.item, 'published', null]), retry, 'more');
    expect((await work.take(run, false, 10_000)).items.map((i) => i.item)).to.deep.equal(['4']);
  });

  describe('finish sent again after the connection was lost under it (it may have run)', () => {
    const results = [['1', 'published', null], ['2', 'failed', 'boom']] as Array<[string, 'published' | 'failed', string | null]>;

    it('changes nothing when the first had run: each outcome is counted once, and the failure charged once', async () => {
      const work = queue(0);
      await work.mark([['1', {}], ['2', {}]]);
      const batch = await work.take(ticketRun('T', 'T:run'), true, 10_000);
      await work.finish(ticketRun('T', 'T:run'), batch.claim, results, retry, 'end');
      const step = keys().step('M', 'ensure-publication');
      const seen = async () => ({
        stats: await redis.hgetall(keys().stats('M')), pending: await redis.zrange(step.pending, 0, -1, 'WITHSCORES'),
        requests: await redis.hgetall(step.requests), recent: await redis.llen(keys().recentPublishes('M')),
      });
      const before = await seen();
      expect(await work.finishAgain(ticketRun('T', 'T:run'), batch.claim, results, retry)).to.equal(false);
      expect(await seen()).to.deep.equal(before);
      expect(before.stats).to.deep.include({ 'ensure-publication:published': '1', 'ensure-publication:failed': '1' });
      expect(decodeRequest(before.requests['2'], 'spec').attempt).to.equal(1);
    });

    it('ends the batch as the first would have when it had not run: locks and claim let go, outcomes counted', async () => {
      const work = queue(0);
      await work.mark([['1', {}], ['2', {}]]);
      const batch = await work.take(ticketRun('T', 'T:run'), true, 10_000);
      expect(await work.finishAgain(ticketRun('T', 'T:run'), batch.claim, results, retry)).to.equal(true);
      const step = keys().step('M', 'ensure-publication');
      expect(await redis.hgetall(keys().stats('M'))).to.deep.include({
        'ensure-publication:published': '1', 'ensure-publication:failed': '1', 'ensure-publication:batches': '1',
      });
      expect(await redis.hlen(keys().locks('M')), 'locks released').to.equal(0);
      expect(await redis.hlen(step.claims), 'claim released').to.equal(0);
      expect(await redis.zrange(step.pending, 0, -1)).to.deep.equal(['2']);
      // Sent a third time: it has run now, so nothing more.
      expect(await work.finishAgain(ticketRun('T', 'T:run'), batch.claim, results, retry)).to.equal(false);
      expect(await redis.hget(keys().stats('M'), 'ensure-publication:published')).to.equal('1');
    });
  });

  it('finish puts a handed-back item back ready at once with its request, uncharged, and counts it apart from outcomes', async () => {
    const work = queue(0);
    await work.mark([['1', {}], ['2', { attempt: '1', force: '1' }]]);
    const batch = await work.take(ticketRun('T', 'T:run'), true, 10_000);
    const before = await redisMs();
    await work.finish(ticketRun('T', 'T:run'), batch.claim, [['1', 'published', null], ['2', 'spilled', null]], retry, 'end');

    const step = keys().step('M', 'ensure-publication');
    const ready = await redis.zrange(step.pending, 0, -1, 'WITHSCORES');
    expect(ready[0]).to.equal('2');
    expect(Number(ready[1]), 'ready at once').to.be.within(before - 1000, await redisMs());
    // Its request as taken: no attempt charged, the force kept; handed back once.
    expect(decodeRequest((await redis.hget(step.requests, '2'))!, 'spec')).to.deep.include({ attempt: 1, force: true, handedBack: 1 });
    expect(await redis.hexists(step.failed, '2')).to.equal(0);
    const stats = await redis.hgetall(keys().stats('M'));
    expect(stats).to.deep.include({ 'ensure-publication:published': '1', 'ensure-publication:handed_back': '1' });
    expect(Object.keys(stats).filter((field) => /spilled|failed|rescheduled/.test(field))).to.deep.equal([]);

    // Taken and handed back again, and a third time: twice or more, which only a closing worker hands back (Spillable).
    for (const times of [2, 2]) {
      const again = await work.take(ticketRun('T', 'T:run'), true, 10_000);
      expect(again.items.map((i) => i.item)).to.deep.equal(['2']);
      await work.finish(ticketRun('T', 'T:run'), again.claim, [['2', 'spilled', null]], retry, 'end');
      expect(decodeRequest((await redis.hget(step.requests, '2'))!, 'spec')).to.deep.include({ attempt: 1, force: true, handedBack: times });
    }
  });

  it('says when a mark went out, before Redis answers it: a take sent then, on the same connection, finds its items', async () => {
    const work = queue(0);
    let take: ReturnType<WorkQueue['take']> | undefined;
    const marked = work.mark([['1', {}], ['2', {}]], true, () => {
      take = work.take(ticketRun('T', lockToken('T', randomUUID())), true, 10_000);
    });
    expect(take, 'told before the mark resolved').to.not.equal(undefined);
    await marked;
    expect((await take!).items.map((i) => i.item).sort()).to.deep.equal(['1', '2']);
  });

  it("a run's locks make a hash table from the first: Redis finds a listpack's fields by a linear scan", async () => {
    // On Redis' defaults (hash-max-listpack-value 64): a 500-item batch's locks in a listpack cost its take and finish
    // O(n²). The spec's own token, as short as the runs' used to be, shows the check can fail.
    const work = queue(0);
    await work.mark([['1', {}], ['2', {}]]);
    const [, maxValue] = await redis.config('GET', 'hash-max-listpack-value') as [string, string];
    const encodingWith = async (token: string) => {
      const batch = await work.take(ticketRun('T', token), true, 10_000);
      expect(batch.items).to.have.length(2);
      const encoding = await redis.object('ENCODING', keys().locks('M'));
      await work.finish(ticketRun('T', token), batch.claim, batch.items.map(({ item }) => [item, 'requeue', null]), retry, 'end');
      return encoding;
    };
    expect(await encodingWith(`T:${'0'.repeat(12)}`), `short locks, hash-max-listpack-value ${maxValue}`).to.equal('listpack');
    expect(await encodingWith(lockToken('T', randomUUID()))).to.equal('hashtable');
  });

  describe('the inbox of commits', () => {
    const step = () => keys().step('M', 'ensure-publication');
    const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => String(from + i));
    const bare = (items: string[]): Array<[string, Record<string, string>]> => items.map((id) => [id, {}]);
    const itemsOf = (batch: { items: Array<{ item: string }> }) => batch.items.map((i) => i.item).sort((a, b) => Number(a) - Number(b));

    it('holds a commit\'s bare items until a take sorts them in, each with the time of its first request', async () => {
      const work = queue(0);
      await work.mark([['1', {}]]); // not a commit's: straight into pending
      const between = await redisMs();
      await new Promise((r) => setTimeout(r, 5));
      await work.mark(bare(['1', '2']), true);
      const after = await redisMs();
      expect(await redis.zrange(step().pending, 0, -1), 'only the first mark is in pending').to.deep.equal(['1']);
      expect(await redis.llen(step().inbox)).to.equal(1);
      expect(await redis.get(step().inboxed)).to.equal('2');

      const batch = await work.take(ticketRun('T', 'T:run'), true, 10_000);
      expect(itemsOf(batch)).to.deep.equal(['1', '2']);
      const at = new Map(batch.items.map((i) => [i.item, decodeRequest(i.raw, 'spec').firstAt!]));
      expect(at.get('1'), 'a pending item keeps its first request\'s time').to.be.at.most(between);
      expect(at.get('2')).to.be.within(between, after);
      expect(await redis.exists(step().inbox, step().inboxed), 'the inbox is emptied').to.equal(0);
    });

    it('a mark past the inbox sorts it in first, so an item keeps the time of the commit that requested it first', async () => {
      const work = queue(0);
      await work.mark(bare(['1']), true);
      const between = await redisMs();
      await new Promise((r) => setTimeout(r, 5));
      await work.mark(bare(['1'])); // a resync's, after the commit's
      const batch = await work.take(ticketRun('T', 'T:run'), true, 10_000);
      expect(decodeRequest(batch.items[0].raw, 'spec').firstAt).to.be.at.most(between);
    });

    it('is not used with a debounce', async () => {
      await queue(50).mark([['1', { 'k:status': '1' }], ['2', {}]], true);
      expect((await redis.zrange(step().pending, 0, -1)).sort()).to.deep.equal(['1', '2']);
      expect(await redis.llen(step().inbox)).to.equal(0);
    });

    it('holds a commit\'s requests with fields too, merged in commit order into what was pending when sorted in', async () => {
      const work = queue(0);
      await work.mark([['1', encodeRequest({ op: 'update', changedKeys: ['status'] })]]); // not a commit's: pending now
      const between = await redisMs();
      await new Promise((r) => setTimeout(r, 5));
      await work.mark([['1', encodeRequest({ op: 'update', changedKeys: ['name'] })], ['2', {}]], true);
      await work.mark([
        ['1', encodeRequest({ op: 'remove', changedKeys: ['name'], snapshot: { id: 1, name: 'last' } })],
        ['3', encodeRequest({ op: 'insert', changedKeys: ['id'] })],
      ], true);
      const after = await redisMs();
      expect(await redis.hkeys(step().requests), 'commits wait in the inbox').to.deep.equal(['1']);
      expect(await redis.llen(step().inbox)).to.equal(2);
      expect(await redis.get(step().inboxed), 'items of both commits, with fields or not').to.equal('4');

      const batch = await work.take(ticketRun('T', 'T:run'), true, 10_000);
      expect(itemsOf(batch)).to.deep.equal(['1', '2', '3']);
      const taken = new Map(batch.items.map((i) => [i.item, decodeRequest(i.raw, 'spec')]));
      expect(taken.get('1')!.ops.sort()).to.deep.equal(['remove', 'update']);
      expect(taken.get('1')!.changedKeys.sort()).to.deep.equal(['name', 'status']);
      expect(taken.get('1')!.snapshot, 'the later commit\'s snapshot').to.deep.equal({ id: 1, name: 'last' });
      expect(taken.get('1')!.firstAt, 'a pending item keeps its first request\'s time').to.be.at.most(between);
      expect(taken.get('3')!.ops).to.deep.equal(['insert']);
      expect(taken.get('3')!.firstAt, 'the time of the commit that requested it').to.be.within(between, after);
      expect(await redis.exists(step().inbox, step().inboxed), 'the inbox is emptied').to.equal(0);
    });

    it('makes a ticket per batch of inboxed items; drain counts them as busy, status sorts them in and counts each once', async () => {
      const work = queue(0);
      await work.mark(bare(ids(1, 25)), true);
      await work.mark(bare(ids(26, 5)), true);
      await work.mark(bare(ids(1, 10)), true); // ten of them again, in a later commit
      expect(await redis.llen(keys().queueKey('M', 'ensure-publication', 'waiting')), '30 items, batches of 10').to.equal(3);
      expect(await readBusy(redis, keys(), ['M'])).to.deep.equal([{ machine: 'M', step: 'ensure-publication', pending: 40, batches: 0 }]);
      // Before, status counted the inbox per commit: 40 waiting for 30 subjects.
      const status = await readMachineStatus(redis, keys(), { name: 'M', subject: 'Order' }, 0);
      expect(status.queues['ensure-publication']).to.deep.include({ waiting: 30, delayed: 0 });
      expect(await redis.exists(step().inbox, step().inboxed), 'sorted in by status').to.equal(0);
      expect(await redis.zcard(step().pending)).to.equal(30);
      expect(await redis.llen(keys().queueKey('M', 'ensure-publication', 'waiting'))).to.be.at.most(MAX_TICKETS);
    });

    it('an inbox deleted by hand (the fix for one of the wrong type) leaves no count of items that are not there', async () => {
      const work = queue(0);
      await work.mark(bare(ids(1, 2)), true);
      await redis.del(step().inbox); // as a user deletes a key of the wrong type, with its entries
      expect(await redis.get(step().inboxed)).to.equal('2');
      // Before, the count stayed: status read 2 waiting forever, and drain() never ended (a trial's fix).
      const status = await readMachineStatus(redis, keys(), { name: 'M', subject: 'Order' }, 0);
      expect(status.queues['ensure-publication']).to.deep.include({ waiting: 0, delayed: 0 });
      expect(await redis.exists(step().inboxed)).to.equal(0);
      expect(await readBusy(redis, keys(), ['M'])).to.deep.equal([]);
    });

    it('makes no tickets for items that repeat while one waits; the take that sorts them in makes what is needed', async () => {
      const work = queue(0);
      const waiting = () => redis.llen(keys().queueKey('M', 'ensure-publication', 'waiting'));
      await work.mark(bare(ids(1, 30)), true);
      expect(await waiting()).to.equal(3);
      for (let i = 0; i < 20; i++) await work.mark(bare(ids(1, 30)), true); // the same rows, commit after commit
      expect(await waiting(), '630 inboxed, 30 distinct').to.equal(3);
      await redis.del(keys().queueKey('M', 'ensure-publication', 'waiting')); // as if one ran and the rest were lost
      const batch = await work.take(ticketRun('T', 'T:run'), true, 10_000);
      expect(batch.items).to.have.length(10);
      // 20 ready after this batch: this ticket's next one, and one more ticket.
      expect(await waiting()).to.equal(1);
    });

    it('makes no tickets for repeats while tickets are handed out to workers and not yet taken', async () => {
      const work = queue(0);
      const q = (name: 'waiting' | 'active') => keys().queueKey('M', 'ensure-publication', name);
      await work.mark(bare(ids(1, 30)), true);
      // What Bee-Queue does when workers pick the tickets up; their takes have not run yet.
      for (let i = 0; i < 3; i++) await redis.rpoplpush(q('waiting'), q('active'));
      for (let i = 0; i < 5; i++) await work.mark(bare(ids(1, 30)), true);
      expect(await redis.llen(q('waiting')), '180 inboxed, 30 distinct, 3 tickets on their way').to.equal(0);
    });

    it('a finish sorts in what commits inboxed during the run, and goes on with it', async () => {
      const work = queue(0);
      await work.mark(bare(['1']), true);
      const batch = await work.take(ticketRun('T', 'T:run'), true, 10_000);
      expect(itemsOf(batch)).to.deep.equal(['1']);
      await work.mark(bare(['1', '2']), true); // committed while the run works on 1
      const again = await work.finish(ticketRun('T', 'T:run'), batch.claim, [['1', 'published', null]], retry, 'more');
      expect(again, 'more work is ready').to.equal(true);
      expect((await redis.zrange(step().pending, 0, -1)).sort()).to.deep.equal(['1', '2']);
    });

    it('a writer with no worker keeps at most 10,000 items in it: past that a commit sorts them in', async () => {
      const work = queue(0);
      for (let i = 0; i < 4; i++) await work.mark(bare(ids(1, 3000)), true); // the same 3,000 rows, four commits
      expect(await redis.llen(step().inbox), 'the fourth commit went past 10,000 items').to.equal(0);
      expect(await redis.zcard(step().pending)).to.equal(3000);
      await work.mark(bare(ids(1, 3000)), true);
      expect(await redis.get(step().inboxed)).to.equal('3000');
    });
  });

  describe('with a debounce, subjects found from rows changed before their run was taken (keys.covered)', () => {
    const DEBOUNCE = 40;
    const rows = () => new WorkQueue(redis, keys(), 'M', 'find-subjects', { batchSize: 10, debounceMs: DEBOUNCE });
    const subjects = (coveredMs = 10_000) =>
      new WorkQueue(redis, keys(), 'M', 'ensure-publication', { batchSize: 10, debounceMs: DEBOUNCE, coveredMs });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const pending = () => redis.zrange(keys().step('M', 'ensure-publication').pending, 0, -1);
    /** Runs the ready subjects to an end with `outcome`; resolves when they were taken. */
    const runSubjects = async (work: WorkQueue, outcome: string) => {
      await sleep(DEBOUNCE + 10);
      const run = ticketRun('S', `S:${randomUUID()}`);
      const batch = await work.take(run, true, 10_000);
      await work.finish(run, batch.claim, batch.items.map(({ item }) => [item, outcome, null]), retry, 'end');
      return { taken: batch.now, items: batch.items.map((i) => i.item) };
    };
    /** The rows' requests as FindSubjects reads them, after their debounce. */
    const takeRows = async () => {
      await sleep(DEBOUNCE + 10);
      const batch = await rows().take(ticketRun('R', `R:${randomUUID()}`), true);
      return new Map(batch.items.map((i) => [i.item, decodeRequest(i.raw, 'spec')]));
    };
    const found = (id: string, request: { firstAt?: number; lastAt?: number }, force = false) =>
      [id, encodeRequest({ at: request.firstAt, last: request.lastAt, force })] as [string, Record<string, string>];

    it('drops a found subject whose run was taken after the row\'s latest change, and keeps one changed after it', async () => {
      const work = subjects();
      await rows().mark([['Customer:1', encodeRequest({ op: 'update', changedKeys: ['firstName'] })]]);
      await work.mark([['7', {}]]); // the subject's own change, in another commit
      const run = await runSubjects(work, 'published');
      expect(run.items).to.deep.equal(['7']);
      const first = (await takeRows()).get('Customer:1')!;
      expect(first.lastAt, 'a row\'s request says when its latest change was').to.be.below(run.taken);
      await work.mark([found('7', first), found('8', first)]);
      // 7's run loaded the row's change; 8 never ran.
      expect(await pending()).to.deep.equal(['8']);

      // Changed again after 7's run: 7 runs again.
      await rows().mark([['Customer:1', encodeRequest({ op: 'update', changedKeys: ['lastName'] })]]);
      const second = (await takeRows()).get('Customer:1')!;
      expect(second.lastAt).to.be.above(run.taken);
      await work.mark([found('7', second)]);
      expect((await pending()).sort()).to.deep.equal(['7', '8']);
    });

    it('a bare request after one with fields moves the row\'s latest change on, so its subjects are not dropped', async () => {
      const work = subjects();
      await rows().mark([['Customer:2', encodeRequest({ op: 'update', changedKeys: ['firstName'] })]]);
      await work.mark([['9', {}]]);
      const run = await runSubjects(work, 'unchanged');
      await sleep(5); // a later millisecond: one the same as the take's is not dropped either, but tells nothing here
      await rows().mark([['Customer:2', {}]]); // notifyChanged(Customer, 2): every field changed, after 9's run
      const request = (await takeRows()).get('Customer:2')!;
      expect(request.lastAt).to.be.above(run.taken);
      await work.mark([found('9', request)]);
      expect(await pending()).to.deep.equal(['9']);
    });

    it('records each subject a run takes, not one held by another run\'s lock, and keeps a forced request', async () => {
      const work = subjects();
      await rows().mark([['Customer:3', encodeRequest({ op: 'update', changedKeys: ['firstName'] })]]);
      await work.mark([['10', {}], ['11', {}]]);
      await redis.hset(keys().locks('M'), '11', `${lockToken('other', randomUUID())}|${(await redisMs()) + 60_000}`);
      await sleep(DEBOUNCE + 10);
      const batch = await work.take(ticketRun('S', 'S:run'), true, 10_000);
      expect([batch.items.map((i) => i.item), batch.held]).to.deep.equal([['10'], 1]);
      const covered = keys().covered('M');
      expect(await redis.zrange(covered, 0, -1)).to.deep.equal(['10']);
      expect(Number(await redis.zscore(covered, '10'))).to.equal(batch.now);
      const request = (await takeRows()).get('Customer:3')!;
      await redis.del(keys().step('M', 'ensure-publication').pending);
      await work.mark([found('10', request, true), found('11', request)]);
      expect((await pending()).sort(), 'a forced request, and one for a subject not taken').to.deep.equal(['10', '11']);
      // The run failed 10: back in pending with its backoff, so it runs again whatever was dropped meanwhile.
      await work.finish(ticketRun('S', 'S:run'), batch.claim, [['10', 'failed', 'boom']], retry, 'end');
      expect((await pending()).sort()).to.deep.equal(['10', '11']);

      const unkept = subjects(0);
      await unkept.mark([['13', {}]]);
      await runSubjects(unkept, 'published');
      expect(await redis.zscore(covered, '13'), 'coveredMs 0: nothing kept').to.equal(null);
    });

    it('forgets a run once its window has passed', async () => {
      const work = subjects(30);
      await work.mark([['14', {}]]);
      await runSubjects(work, 'published');
      expect(await redis.zrange(keys().covered('M'), 0, -1)).to.deep.equal(['14']);
      await sleep(40);
      await work.mark([['15', {}]]);
      await runSubjects(work, 'published');
      expect(await redis.zrange(keys().covered('M'), 0, -1)).to.deep.equal(['15']);
    });
  });
});
