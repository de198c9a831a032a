import { expect } from 'chai';
import { envelopeProblem } from '../../lib/queue/bee-queue-storage';
import { decodeOutboxEntry, encodeOutboxEntry, fitOutboxEntry } from '../../lib/store/outbox-row';

/** Pure formats: Bee-Queue job envelopes as the guard checks them, and outbox entries. No services. */
describe('job envelopes and outbox entries', () => {
  const sound = { data: { v: 2 }, options: { timestamp: 1, stacktraces: [], retries: 3, backoff: { strategy: 'fixed', delay: 1000 } }, status: 'created', progress: 0 };

  it('accepts what Bee-Queue and the work scripts write, and options left out', () => {
    expect(envelopeProblem(JSON.stringify(sound))).to.equal(undefined);
    expect(envelopeProblem(JSON.stringify({ data: {} }))).to.equal(undefined);
    expect(envelopeProblem(JSON.stringify({ data: {}, options: null }))).to.equal(undefined);
  });

  it('names what is wrong with each corrupt envelope', () => {
    const withOptions = (options: unknown) => JSON.stringify({ ...sound, options: { ...sound.options, ...(options as object) } });
    const cases: Array<[string, string]> = [
      ['{"data"', 'the job hash value is not JSON'],
      ['null', 'the job hash value is null, not an object'],
      ['7', 'the job hash value is the number 7, not an object'],
      ['[]', 'the job hash value is an array, not an object'],
      [JSON.stringify({ data: {}, options: 'x' }), 'options is the string "x", not an object'],
      [JSON.stringify({ data: {}, options: [] }), 'options is an array, not an object'],
      [withOptions({ timestamp: 'now' }), 'options.timestamp is the string "now", not a number'],
      [withOptions({ retries: null }), 'options.retries is null, not a number'],
      [withOptions({ timeout: {} }), 'options.timeout is an object, not a number'],
      [withOptions({ delay: true }), 'options.delay is the boolean true, not a number'],
      [withOptions({ stacktraces: {} }), 'options.stacktraces is an object, not an array'],
      [withOptions({ backoff: 'fixed' }), 'options.backoff is the string "fixed", not an object'],
      [withOptions({ backoff: { delay: 5 } }), 'options.backoff.strategy is missing, not a string'],
      [withOptions({ backoff: { strategy: 'fixed', delay: '5' } }), 'options.backoff.delay is the string "5", not a number'],
    ];
    for (const [raw, problem] of cases) expect(envelopeProblem(raw), String(raw)).to.equal(problem);
  });

  it('round-trips an outbox entry and refuses one that names no watched entity', () => {
    class Order {}
    const change = { entity: Order, id: '5', op: 'remove' as const, changedKeys: ['status'], snapshot: { id: 5 } };
    const entities = new Map([['Order', Order]]);
    expect(decodeOutboxEntry(encodeOutboxEntry(change), entities)).to.deep.equal({ change });
    expect(decodeOutboxEntry(encodeOutboxEntry(change), new Map())).to.deep.equal({ problem: 'entity "Order" is not listened to by any started machine' });
    expect(decodeOutboxEntry('{', entities)).to.deep.equal({ problem: 'not JSON' });
    expect(decodeOutboxEntry('{"e":"Order","id":5,"op":"update","k":[]}', entities)).to.deep.equal({ problem: 'id, op or changed keys missing' });
    // A move's earlier values travel too.
    const moved = { entity: Order, id: '5', op: 'update' as const, changedKeys: ['customer'], before: [{ id: 5, customer: { id: 1 } }] };
    expect(decodeOutboxEntry(encodeOutboxEntry(moved), entities)).to.deep.equal({ change: { ...moved, snapshot: undefined } });
  });

  it('fits a move to a column of limited bytes by leaving its earlier values out first', () => {
    class Order {}
    const moved = { entity: Order, id: '5', op: 'update' as const, changedKeys: ['customer'], before: [{ id: 5, note: 'x'.repeat(500) }] };
    const without = encodeOutboxEntry({ ...moved, before: undefined });
    expect(fitOutboxEntry(moved, Buffer.byteLength(without))).to.deep.equal({ entry: without, dropped: ['(its earlier values)'] });
    expect(decodeOutboxEntry(without, new Map([['Order', Order]]))).to.deep.equal({
      change: { entity: Order, id: '5', op: 'update', changedKeys: ['customer'], snapshot: undefined },
    });
  });

  it('fits an entry to a column of limited bytes: the longest values of the snapshot go first, then the whole snapshot', () => {
    class Article {}
    const snapshot = { id: 5, title: 'é'.repeat(300), text: 'x'.repeat(500) };
    const change = { entity: Article, id: '5', op: 'remove' as const, changedKeys: ['id', 'title', 'text'], snapshot };
    const entities = new Map([['Article', Article]]);
    const whole = encodeOutboxEntry(change);
    expect(fitOutboxEntry(change, undefined)).to.deep.equal({ entry: whole, dropped: [] });
    expect(fitOutboxEntry(change, Buffer.byteLength(whole))).to.deep.equal({ entry: whole, dropped: [] });
    // 'é' is two bytes: the title (602) is longer than the text (502) in bytes, though not in characters.
    const lessTitle = fitOutboxEntry(change, Buffer.byteLength(whole) - 1);
    expect(lessTitle.dropped).to.deep.equal(['title']);
    expect(decodeOutboxEntry(lessTitle.entry, entities)).to.deep.equal({ change: { ...change, snapshot: { id: 5, text: snapshot.text } } });
    const idOnly = fitOutboxEntry(change, 120);
    expect(idOnly.dropped).to.deep.equal(['title', 'text']);
    expect(decodeOutboxEntry(idOnly.entry, entities)).to.deep.equal({ change: { ...change, snapshot: { id: 5 } } });
    const none = fitOutboxEntry(change, 60);
    expect(none.dropped).to.deep.equal(['title', 'text', 'id']);
    expect(decodeOutboxEntry(none.entry, entities)).to.deep.equal({ change: { ...change, snapshot: undefined } });
  });
});
