import { expect } from 'chai';
import { ChangeFrame, mergeChange } from '../../lib/changes';
import type { CapturedChange } from '../../lib/ports';

class Order {}

/** Several writes of one row in one transaction become one change (lib/changes.ts): pure, no services. */
describe('merging the changes of one transaction', () => {
  const merged = (...changes: Array<Omit<CapturedChange, 'entity' | 'id'>>) => {
    const frame: ChangeFrame = new Map();
    for (const change of changes) mergeChange(frame, { entity: Order, id: '1', ...change });
    expect(frame.size).to.equal(1);
    const [only] = frame.values();
    return { op: only.op, changedKeys: [...only.changedKeys].sort(), snapshot: only.snapshot };
  };

  it('an insert followed by updates stays an insert, with the keys united', () => {
    expect(merged({ op: 'insert', changedKeys: ['a'] }, { op: 'update', changedKeys: ['b'] }, { op: 'update', changedKeys: ['a'] }))
      .to.deep.equal({ op: 'insert', changedKeys: ['a', 'b'], snapshot: undefined });
  });

  it('a removal wins over what came before, and keeps its snapshot', () => {
    expect(merged({ op: 'update', changedKeys: ['a'] }, { op: 'remove', changedKeys: [], snapshot: { id: 1 } }))
      .to.deep.equal({ op: 'remove', changedKeys: ['a'], snapshot: { id: 1 } });
    expect(merged({ op: 'insert', changedKeys: ['a'] }, { op: 'remove', changedKeys: [], snapshot: { id: 1 } }).op).to.equal('remove');
  });

  it('a row removed and inserted again is an insert; the removal snapshot stays for mappers', () => {
    expect(merged({ op: 'remove', changedKeys: [], snapshot: { id: 1 } }, { op: 'insert', changedKeys: ['a'] }))
      .to.deep.equal({ op: 'insert', changedKeys: ['a'], snapshot: { id: 1 } });
  });

  it('keeps rows apart', () => {
    const frame: ChangeFrame = new Map();
    mergeChange(frame, { entity: Order, id: '1', op: 'update', changedKeys: ['a'] });
    mergeChange(frame, { entity: Order, id: '2', op: 'insert', changedKeys: ['b'] });
    expect([...frame.values()].map((c) => [c.id, c.op])).to.deep.equal([['1', 'update'], ['2', 'insert']]);
  });
});
