import { expect } from 'chai';
import { InvalidJobError } from '../../lib/errors';
import { changeFor, decodeRequest, encodeRequest } from '../../lib/pipeline/requests';

/** The pending-request format (lib/pipeline/requests.ts): pure, no services. Merging itself is Lua, tested end to end. */
describe('pending requests: encode, decode, and the change a mapper sees', () => {
  const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

  it('round-trips a change: op, sorted changed keys, snapshot, force, origin', () => {
    const raw = JSON.stringify({ ...encodeRequest({
      op: 'remove', changedKeys: ['lastName', 'firstName'], snapshot: { id: 5, customer: { id: 2 } }, force: true, traceparent: TP,
    }), at: '1700000000000' });
    expect(decodeRequest(raw, 'x')).to.deep.equal({
      firstAt: 1700000000000, lastAt: undefined, parent: TP, origins: [TP], ops: ['remove'], changedKeys: ['firstName', 'lastName'],
      snapshot: { id: 5, customer: { id: 2 } }, before: [], force: true, attempt: 0, handedBack: 0,
    });
  });

  it('decodes what merges leave: several ops, keys united, attempts counted', () => {
    const merged = { ...encodeRequest({ op: 'insert', changedKeys: ['a'] }), ...encodeRequest({ op: 'update', changedKeys: ['b'] }), attempt: '2' };
    const request = decodeRequest(JSON.stringify(merged), 'x');
    expect(request.ops).to.deep.equal(['insert', 'update']);
    expect(request.changedKeys).to.deep.equal(['a', 'b']);
    expect(request.attempt).to.equal(2);
    expect(request.force).to.equal(false);
    expect(decodeRequest('{}', 'x')).to.deep.equal({
      firstAt: undefined, lastAt: undefined, parent: undefined, origins: [], ops: [], changedKeys: [], snapshot: undefined, before: [], force: false, attempt: 0, handedBack: 0,
    });
  });

  it('keeps each distinct earlier value of a moved row through merges (a field per value, so a merge is a union)', () => {
    const fromA = encodeRequest({ op: 'update', changedKeys: ['shelf'], before: [{ id: 7, shelf: { id: 1 } }] });
    const fromB = encodeRequest({ op: 'update', changedKeys: ['shelf'], before: [{ id: 7, shelf: { id: 2 } }, { id: 7, shelf: { id: 1 } }] });
    expect(decodeRequest(JSON.stringify({ ...fromA, ...fromB }), 'x').before).to.deep.equal([{ id: 7, shelf: { id: 1 } }, { id: 7, shelf: { id: 2 } }]);
    expect(() => decodeRequest('{"was:[1]":"1"}', 'x')).to.throw(InvalidJobError, "a row's earlier values is not an object");
    expect(() => decodeRequest('{"was:{":"1"}', 'x')).to.throw(InvalidJobError, "a row's earlier values is not JSON");
  });

  it('a bare request (what a take gives an item requested without fields) decodes as the general form does', () => {
    const expected = {
      firstAt: 1700000000000, lastAt: undefined, parent: undefined, origins: [], ops: [], changedKeys: [], snapshot: undefined, before: [], force: false, attempt: 0, handedBack: 0,
    };
    expect(decodeRequest('{"at":"1700000000000"}', 'x')).to.deep.equal(expected);
    // Spaced, it is not the bare form: the general path reads it, to the same request.
    expect(decodeRequest('{ "at": "1700000000000" }', 'x')).to.deep.equal(expected);
    // More fields than `at`: not bare either.
    expect(decodeRequest('{"at":"1700000000000","force":"1"}', 'x')).to.deep.equal({ ...expected, force: true });
    // Handed back once (or twice and more) before its call (finish.lua): it goes back again only far behind (only at close).
    expect(decodeRequest('{"at":"1700000000000","back":"1"}', 'x')).to.deep.equal({ ...expected, handedBack: 1 });
    expect(decodeRequest('{"at":"1700000000000","back":"2"}', 'x')).to.deep.equal({ ...expected, handedBack: 2 });
  });

  it('a row inserted since the last run is an insert even after later updates; a row that exists otherwise an update', () => {
    const insertThenUpdate = decodeRequest(JSON.stringify({ 'op:insert': '1', 'op:update': '1', 'k:status': '1' }), 'x');
    expect(changeFor(insertThenUpdate, true)).to.deep.equal({ op: 'insert', changedKeys: ['status'] });
    const updates = decodeRequest(JSON.stringify({ 'op:update': '1', 'k:status': '1' }), 'x');
    expect(changeFor(updates, true)).to.deep.equal({ op: 'update', changedKeys: ['status'] });
    // Gone now: a removal, whatever came before.
    expect(changeFor(insertThenUpdate, false)).to.deep.equal({ op: 'remove', changedKeys: ['status'] });
  });

  it('refuses anything but the format, saying what was wrong and where', () => {
    const cases: Array<[string, string]> = [
      ['not json', 'not JSON'], ['[1]', 'not an object'], ['null', 'not an object'], ['"s"', 'not an object'],
      ['{"k:a": 1}', 'field "k:a" is not a string'], ['{"snapshot": "{"}', 'snapshot is not JSON'],
      ['{"snapshot": "3"}', 'snapshot is not an object'], ['{"attempt": "-1"}', 'attempt is not a count'],
      ['{"attempt": "x"}', 'attempt is not a count'],
    ];
    for (const [raw, problem] of cases) {
      expect(() => decodeRequest(raw, 'ensure-publication Order 7 of OrderSync'), raw).to.throw(InvalidJobError,
        `The pending request of ensure-publication Order 7 of OrderSync is malformed (${problem}): ${raw}.`);
    }
  });
});
