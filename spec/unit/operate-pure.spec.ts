import { expect } from 'chai';
import { describeDifference } from '../../lib/cli/commands/diff';
import { ConfigurationError } from '../../lib/errors';
import type { MachineDefinition } from '../../lib/metadata/machine-definition';
import { notifiedChanges } from '../../lib/runtime/notify';

class Customer {}
class Order {}

/** A machine definition with only what notifiedChanges reads: its listeners. */
function machine(className: string, listeners: Array<{ entity: object; fields?: string[] }>): MachineDefinition {
  return {
    className,
    listeners: listeners.map((l) => ({
      ...l, info: { name: (l.entity as { name: string }).name, primaryKey: 'id', properties: ['id', 'firstName', 'lastName', 'email'] },
    })),
  } as unknown as MachineDefinition;
}

/** notifyChanged's key check (lib/runtime/notify.ts): pure, no services. */
describe('notifyChanged keys', () => {
  const orders = machine('OrderToApiSync', [{ entity: Order }, { entity: Customer, fields: ['firstName', 'lastName'] }]);
  const crm = machine('CustomerToCrmSync', [{ entity: Customer, fields: ['email'] }]);

  it('passes the keys through when one listener watches one of them, and every property without keys', () => {
    expect(notifiedChanges([orders], Customer, [1, 2], ['email', 'lastName']).map((c) => [c.id, c.changedKeys]))
      .to.deep.equal([['1', ['email', 'lastName']], ['2', ['email', 'lastName']]]);
    expect(notifiedChanges([orders, crm], Customer, 1, ['email'])[0].changedKeys).to.deep.equal(['email']);
    expect(notifiedChanges([orders], Customer, 7)[0]).to.deep.include({ id: '7', op: 'update', changedKeys: ['id', 'firstName', 'lastName', 'email'] });
    expect(notifiedChanges([orders], Order, 3, ['email'])[0].changedKeys).to.deep.equal(['email']); // no `fields`: all watched
    expect(notifiedChanges([orders], Customer, [], ['firstName'])).to.deep.equal([]);
  });

  it('refuses keys no listener watches, listing what each machine watches', () => {
    expect(() => notifiedChanges([orders, crm], Customer, 1, ['id'])).to.throw(ConfigurationError,
      'no machine watches that field of Customer (OrderToApiSync watches firstName, lastName; CustomerToCrmSync watches email)');
    expect(() => notifiedChanges([orders], Customer, 1, ['nickname'])).to.throw(ConfigurationError, 'Customer has no property nickname');
    expect(() => notifiedChanges([orders], Customer, 1, [])).to.throw(ConfigurationError, 'changedKeys must be a non-empty array');
    expect(() => notifiedChanges([crm], Order, 1)).to.throw(ConfigurationError, 'notifyChanged(Order): no machine listens to it');
  });

  it("takes a child class as a change of each listened class it extends, and its listeners' refusal only when all refuse", () => {
    class VipCustomer extends Customer {}
    const changes = notifiedChanges([orders], VipCustomer, 2, ['firstName']);
    expect(changes.map((c) => [c.entity, c.id, c.changedKeys])).to.deep.equal([[Customer, '2', ['firstName']]]);
    const vips = machine('VipToCrmSync', [{ entity: VipCustomer, fields: ['email'] }]);
    expect(notifiedChanges([orders, vips], VipCustomer, 2, ['firstName']).map((c) => c.entity)).to.deep.equal([Customer]);
    expect(notifiedChanges([orders, vips], VipCustomer, 2).map((c) => c.entity)).to.deep.equal([VipCustomer, Customer]);
    expect(() => notifiedChanges([orders, vips], VipCustomer, 2, ['id'])).to.throw(ConfigurationError,
      'no machine watches that field of VipCustomer (VipToCrmSync watches email)');
    // And the other way: a Customer notified may be a VipCustomer.
    expect(notifiedChanges([vips], Customer, 2).map((c) => [c.entity, c.id])).to.deep.equal([[VipCustomer, '2']]);
    expect(notifiedChanges([orders, vips], Customer, 2).map((c) => c.entity)).to.deep.equal([Customer, VipCustomer]);
    expect(notifiedChanges([orders, vips], Customer, 2, ['email']).map((c) => c.entity)).to.deep.equal([VipCustomer]);
    // And across: a row notified as its old class after its kind changed (biz to vip) is one of the table's rows.
    class BizCustomer extends Customer {}
    const onTable = (m: MachineDefinition) => ({ ...m, listeners: m.listeners.map((l) => ({ ...l, info: { ...l.info, table: 'customers' } })) });
    const shared = [onTable(machine('VipSync', [{ entity: VipCustomer }])), onTable(machine('BizSync', [{ entity: BizCustomer }]))] as MachineDefinition[];
    expect(notifiedChanges(shared, BizCustomer, 3).map((c) => c.entity)).to.deep.equal([BizCustomer, VipCustomer]);
    expect(notifiedChanges([machine('VipSync', [{ entity: VipCustomer }]), machine('BizSync', [{ entity: BizCustomer }])], BizCustomer, 3)
      .map((c) => c.entity), 'tables unknown: only its own line').to.deep.equal([BizCustomer]);
  });
});

/** `sync-machine diff`'s per-subject lines (lib/cli/commands/diff.ts). */
describe('diff lines', () => {
  const digest = (c: string) => c.repeat(64);

  it('lists the top-level fields that changed, in key order, and only those', () => {
    expect(describeDifference({
      subjectId: '1', stored: { b: 1, a: 'x', same: [1] }, storedDigest: digest('a'),
      built: { a: 'y', same: [1], c: null }, builtDigest: digest('b'),
    })).to.deep.equal(['a: "x" -> "y"', 'b: 1 -> (absent)', 'c: (absent) -> null']);
  });

  it('says when a subject was never published, when only digests are stored, and shows whole values otherwise', () => {
    expect(describeDifference({ subjectId: '1', built: { a: 1 }, builtDigest: digest('b') }))
      .to.deep.equal(['not published yet: {"a":1}']);
    expect(describeDifference({ subjectId: '1', storedDigest: digest('a'), built: { a: 1 }, builtDigest: digest('b') }))
      .to.deep.equal(['digest aaaaaaaaaaaa -> bbbbbbbbbbbb (the store keeps digests only)']);
    expect(describeDifference({ subjectId: '1', stored: [1], storedDigest: digest('a'), built: [2], builtDigest: digest('b') }))
      .to.deep.equal(['- [1]', '+ [2]']);
    const long = 'x'.repeat(200);
    expect(describeDifference({ subjectId: '1', stored: { a: 1 }, storedDigest: digest('a'), built: { a: long }, builtDigest: digest('b') })[0])
      .to.have.length('a: 1 -> '.length + 120).and.match(/…$/);
  });

  it('shows two long values that differ only past what is shown from where they differ, not as undefined', () => {
    // An outside trial: one email changed in a 40-member list printed `Team 2  undefined`.
    const members = (last: string) => Array.from({ length: 40 }, (_, i) => ({ email: i === 39 ? last : `m${i}@example.com` }));
    const lines = describeDifference({
      subjectId: '2', stored: { name: 'Core', members: members('old@example.com') }, storedDigest: digest('a'),
      built: { name: 'Core', members: members('new@example.com') }, builtDigest: digest('b'),
    });
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/^members: ….*"old@example\.com".* -> ….*"new@example\.com".* \(they differ from character \d+ on\)$/);
    const [minus, plus] = describeDifference({
      subjectId: '2', stored: members('old@example.com'), storedDigest: digest('a'), built: members('new@example.com'), builtDigest: digest('b'),
    });
    expect(minus).to.match(/^- ….*old@example/);
    expect(plus).to.match(/^\+ ….*new@example.* \(they differ from character \d+ on\)$/);
  });
});
