import { expect } from 'chai';
import { DataSource, EntityMetadata } from 'typeorm';
import { ChangeLog } from '../../adapters/typeorm/change-log';
import type { CapturedChange } from '../../lib/ports';
import { Customer, Order } from '../support/shop';

/*
 * A transaction level's log (adapters/typeorm/change-log.ts) keeps what the hooks gave it flat and merges per row
 * when read, or once it holds 4,096 entries. These cases cross that point, which the write-path tests (a few
 * writes per transaction) never reach. Real entity metadata, from an in-memory SQLite DataSource.
 */
describe('TypeORM capture: a transaction level\'s change log', () => {
  let ds: DataSource;
  let orders: EntityMetadata;
  let customers: EntityMetadata;

  before(async () => {
    ds = await new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Customer, Order] }).initialize();
    orders = ds.getMetadata(Order);
    customers = ds.getMetadata(Customer);
  });

  after(() => ds?.destroy());

  const column = (metadata: EntityMetadata, property: string) => metadata.findColumnWithPropertyPath(property)!;
  const byRow = (changes: CapturedChange[]) => Object.fromEntries(changes.map((c) =>
    [`${c.entity.name} ${c.id}`, { op: c.op, keys: [...c.changedKeys].sort(), snapshot: c.snapshot }]));

  it('merges 10,000 writes of three rows into one change per row, across the merge point, keys united', () => {
    const log = new ChangeLog();
    log.add(orders, 1, 'insert');
    for (let i = 0; i < 10_000; i++) {
      log.add(orders, 1 + (i % 2), 'update', [column(orders, i % 3 === 0 ? 'status' : 'version')]);
      log.add(customers, 7, 'update', [column(customers, i === 9_999 ? 'email' : 'firstName')]);
    }
    expect(byRow(log.changes())).to.deep.equal({
      'Order 1': { op: 'insert', keys: ['customerId', 'deletedAt', 'id', 'status', 'version', 'warehouseCode'], snapshot: undefined },
      'Order 2': { op: 'update', keys: ['status', 'version'], snapshot: undefined },
      'Customer 7': { op: 'update', keys: ['email', 'firstName'], snapshot: undefined },
    });
  });

  it('keeps the order of writes when it merges: a removal after 5,000 updates wins, with its snapshot', () => {
    const log = new ChangeLog();
    for (let i = 0; i < 5_000; i++) log.add(orders, 3, 'update', ['status']);
    log.add(orders, 3, 'remove', undefined, { id: 3, status: 'gone' });
    expect(byRow(log.changes())['Order 3']).to.deep.include({ op: 'remove', snapshot: { id: 3, status: 'gone' } });
  });

  it('takes a released savepoint\'s changes in as later ones, whether either side has merged or not', () => {
    const outer = new ChangeLog();
    for (let i = 0; i < 4_500; i++) outer.add(orders, 4, 'update', ['version']);
    outer.add(orders, 5, 'update', ['status']);
    const inner = new ChangeLog();
    inner.add(orders, 4, 'remove', undefined, { id: 4 });
    inner.add(orders, 6, 'remove', undefined, { id: 6 });
    outer.append(inner);
    outer.add(orders, 6, 'insert');
    const rows = byRow(outer.changes());
    expect(Object.keys(rows).sort()).to.deep.equal(['Order 4', 'Order 5', 'Order 6']);
    // Updated, then removed in the savepoint: the removal is the last word.
    expect(rows['Order 4']).to.deep.include({ op: 'remove', snapshot: { id: 4 } });
    expect(rows['Order 5']).to.deep.equal({ op: 'update', keys: ['status'], snapshot: undefined });
    // Removed in the savepoint, inserted again after it: an insert that keeps the removal's snapshot.
    expect(rows['Order 6']).to.deep.include({ op: 'insert', snapshot: { id: 6 } });
  });

  it('names ids as strings, whatever type the primary key has', () => {
    const log = new ChangeLog();
    log.add(orders, 8, 'update', ['status']);
    log.add(orders, BigInt(9), 'update', ['status']);
    expect(log.changes().map((c) => c.id)).to.deep.equal(['8', '9']);
  });
});
