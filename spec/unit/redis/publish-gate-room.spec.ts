import { expect } from 'chai';
import Redis from 'ioredis';
import { PublishGate, type Room, SPILLED } from '../../../lib/pipeline/publish-gate';
import { WorkQueue } from '../../../lib/pipeline/work-queue';
import { KeySpace } from '../../../lib/redis/keys';
import { deleteKeys, freshPrefix, REDIS_URL } from '../../support/redis';

const BATCH = 500;

/**
 * How much a run may take while publishes wait for a slot (PublishGate.room), on a real work queue (its pause is
 * read from Redis under a fresh prefix). Two slots; a first publish of about 20 ms sets the pace, so a worker keeps
 * about 1,000 / 20 × 2 = 100 publishes queued. Another worker runs the machine unless a test says not.
 */
describe('publish gate: room for a take (shared Redis, fresh prefix)', () => {
  let redis: Redis;
  let prefix: string;
  let gate: PublishGate;
  let release: () => void;
  let held: Array<Promise<unknown>>;
  /** Whether another worker runs the machine (its roll, in a worker). */
  let others: boolean;
  beforeEach(async () => {
    others = true;
    redis = new Redis(REDIS_URL);
    prefix = freshPrefix('publish-gate');
    const work = new WorkQueue(redis, new KeySpace(prefix), 'M', 'ensure-publication', { batchSize: BATCH, debounceMs: 0 });
    gate = new PublishGate(2, work, async () => others);
    await gate.run(() => new Promise((r) => setTimeout(r, 20)));
    // Two publishes hold the slots and ten wait behind them, until release().
    const blocked = new Promise<void>((r) => { release = r; });
    held = Array.from({ length: 12 }, () => gate.run(() => blocked));
  });
  afterEach(async () => {
    release();
    await Promise.all(held);
    redis.disconnect();
    await deleteKeys(prefix);
  });

  const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `s${from + i}`);
  /** Whether `room` resolves within `ms`. */
  const within = (room: Promise<Room>, ms: number) =>
    Promise.race([room.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

  it('what one run was granted is set aside until its take answers, so runs asking at once do not each get it', async () => {
    // The pace is the first publish as the gate timed it: 20 ms on a quiet machine, more on a loaded one (64 read
    // against 80..95 in a full run beside other work, from a first publish of about 27 ms).
    const keep = Math.ceil((1_000 / gate.queuedOf([], 0).publishMs) * 2);
    expect(keep, 'a first publish of 20 ms, up to about 65 ms on a loaded host').to.be.within(30, 100);
    const first = await gate.room(BATCH, () => false);
    expect(first.size, 'keep, less the 10 waiting').to.equal(keep - 10);
    // Before: the second run got the same room, and the two takes queued about twice what the worker keeps.
    const second = gate.room(BATCH, () => false);
    expect(await within(second, 150), 'no room while the first take is out').to.equal(false);
    // It took few enough that half of what is kept still fits beside them and the 10 waiting: 30 when the pace is
    // 20 ms (keep 100), fewer on a loaded machine (keep 64: 30 would leave 24 of the 32 needed, and no room came).
    const taken = Math.min(30, keep - 10 - Math.ceil(keep / 2) - 2);
    first.took(ids(taken));
    expect(await within(second, 150), `room once the first take said it took ${taken}`).to.equal(true);
    expect((await second).size, `less the ${taken} taken and not yet queued`).to.equal(first.size - taken);
  });

  it('a subject taken counts as on its way until it queues for a slot or needs none; a failed take sets nothing aside', async () => {
    const first = await gate.room(BATCH, () => false);
    first.took(ids(first.size));
    const waiting = gate.room(BATCH, () => false);
    expect(await within(waiting, 150), 'full: what the take got is on its way').to.equal(false);
    for (const id of ids(first.size)) gate.settle(id);
    const again = await waiting;
    expect(again.size, 'all of it settled').to.equal(first.size);
    again.took([]); // the take failed
    again.took(['late']); // said twice: the grant is given back once
    gate.settle('late');
    expect((await gate.room(BATCH, () => false)).size, 'nothing set aside after a take that took nothing').to.equal(first.size);
  });

  it('alone on the machine, a run takes what fits beside the queued publishes, however much is on its way', async () => {
    others = false;
    const first = await gate.room(BATCH, () => false);
    first.took(ids(first.size));
    // Nobody else would take the rest: taking early keeps this worker's loads going beside its publishes.
    expect(await within(gate.room(BATCH, () => false), 150)).to.equal(true);
    expect((await gate.room(BATCH, () => false)).size).to.equal(first.size);
  });

  it('a whole batch while nothing waits for a slot, even with subjects on their way (an unchanged resync)', async () => {
    release();
    await Promise.all(held);
    const first = await gate.room(BATCH, () => false);
    expect(first.size).to.equal(BATCH);
    first.took(ids(BATCH));
    expect((await gate.room(BATCH, () => false)).size, 'not held back by the batch on its way').to.equal(BATCH);
  });

  it('behind, hands back what it may; a subject handed back once already waits its turn, and goes back only at close', async () => {
    const settled = new Map<string, unknown>();
    const queue = (name: string, spillable: true | 'farBehind') =>
      gate.run(async () => 'sent', spillable).then((result) => { settled.set(name, result); });
    // About 100 are kept (20 ms a publish, 2 slots); 10 wait already. Once handed back first, then never so far.
    const runs = [...ids(150, 0).map((id) => queue(id, 'farBehind')), ...ids(150, 150).map((id) => queue(id, true))];
    await new Promise((r) => setTimeout(r, 600)); // the queue is looked at every 200 ms
    const spilled = ids(300).filter((id) => settled.get(id) === SPILLED);
    // Before, any of the 300 could go back: under load, workers passed subjects back and forth (a trial: 17,187 to
    // 24,159 handed back in a backfill of 15,000).
    expect(spilled, 'handed back: only those never handed back before').to.deep.equal(ids(150, 150));
    gate.stop();
    await Promise.all(runs);
    expect(ids(150).map((id) => settled.get(id)), 'at close every waiting one goes back').to.deep.equal(ids(150).map(() => SPILLED));
    expect(await gate.run(async () => 'sent', 'farBehind'), 'and any later one at once').to.equal(SPILLED);
  });

  it('far behind (over ten times what it keeps), hands back even a subject handed back once before, not one handed back twice', async () => {
    const settled = new Map<string, unknown>();
    // About 100 are kept: 1,200 handed back once before wait behind the 2 slots, over 10 s of publishing, and 300
    // handed back twice (queued first, so that the last queued, which go first, are not all of one kind).
    const queue = (id: string, spillable: 'farBehind' | 'atClose') =>
      gate.run(async () => 'sent', spillable).then((result) => { settled.set(id, result); });
    const runs = [...ids(300, 2_000).map((id) => queue(id, 'atClose')), ...ids(1_200).map((id) => queue(id, 'farBehind'))];
    await new Promise((r) => setTimeout(r, 600));
    const spilled = ids(1_200).filter((id) => settled.get(id) === SPILLED);
    // Before, none went: one worker of two kept about 1,000 for 100 s while the other had nothing (a trial).
    expect(spilled.length, 'down to what it keeps, the last queued first').to.be.within(1_000, 1_200);
    expect(spilled).to.deep.equal(ids(1_200).slice(1_200 - spilled.length));
    // Those handed back twice wait their turn: on a loaded host workers were this far behind often, and built some
    // subjects of a backfill 4 times (a trial).
    expect(ids(300, 2_000).filter((id) => settled.has(id)), 'handed back twice: none goes').to.deep.equal([]);
    gate.stop();
    await Promise.all(runs);
    expect(ids(300, 2_000).every((id) => settled.get(id) === SPILLED), 'but every one at close').to.equal(true);
  });

  it('tells a slow batch\'s subjects waiting for a slot, and those whose call just started, from the rest', async () => {
    let done!: () => void;
    const calls = new Promise<void>((r) => { done = r; });
    const a = gate.run(() => calls, false, 'a');
    const b = gate.run(() => calls, false, 'b');
    // The two slots are held by beforeEach's publishes: both wait.
    expect(gate.queuedOf(['a', 'b', 'c'], 1_000)).to.deep.include({ items: ['a', 'b'], started: [], concurrency: 2 });
    release(); // the held publishes end: a and b get their slots
    await new Promise((r) => setTimeout(r, 30));
    const now = gate.queuedOf(['a', 'b', 'c'], 1_000);
    expect([now.items, now.started]).to.deep.equal([[], ['a', 'b']]);
    // Had they got their slots before the last 10 ms, their calls would be slow ones: neither list names them.
    const later = gate.queuedOf(['a', 'b', 'c'], 10);
    expect([later.items, later.started]).to.deep.equal([[], []]);
    // a's call returned while its run still holds the slot (the lock's check, in Redis): not hung (a trial's Redis
    // was stopped after such calls, and the warning named them).
    gate.callReturned('a');
    const returned = gate.queuedOf(['a', 'b', 'c'], 10);
    expect([returned.items, returned.started]).to.deep.equal([[], ['a']]);
    done();
    await Promise.all([a, b]);
    // Their calls returned: storing, not hung, until their batch ends (a trial's warning named such as hung calls).
    expect(gate.queuedOf(['a', 'b'], 10)).to.deep.include({ items: [], started: ['a', 'b'] });
    gate.settleAll(['a', 'b']);
    expect(gate.queuedOf(['a', 'b'], 1_000)).to.deep.include({ items: [], started: [] });
  });
});
