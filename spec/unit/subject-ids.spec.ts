import { expect } from 'chai';
import type { EntityInfo } from '../../lib/ports';
import { ConfigurationError, SubjectIdsError } from '../../lib';
import { checkedIds } from '../../lib/runtime/subject-ids';
import type { MachineDefinition } from '../../lib/metadata/machine-definition';
import { normalizeIds } from '../../lib/pipeline/find-subjects';
import { rowId, uuidFoldsCase } from '../../lib/key-kinds';

const entity = (keyKind: EntityInfo['keyKind']): EntityInfo => ({ name: 'Order', primaryKey: 'id', keyKind, properties: ['id'] });

/**
 * Ids given to a call come back as the rows spell them: a run finds each row by the key the database hands back,
 * so '007' or an upper-case uuid found the row, missed it in the result, and reported the subject gone.
 */
describe('subject ids given to a call', () => {
  it('are spelled as the rows spell them, for keys whose values have one spelling', () => {
    expect(checkedIds(['007', 7, '-0', ' 8'.trim()], entity('integer'), 'resync')).to.deep.equal(['7', '7', '0', '8']);
    expect(checkedIds(['0009007199254740993'], entity('bigint'), 'resync')).to.deep.equal(['9007199254740993']);
    expect(checkedIds(['CA25B1E0-0000-4000-8000-00000000000A'], entity('uuid'), 'resync'))
      .to.deep.equal(['ca25b1e0-0000-4000-8000-00000000000a']);
    expect(checkedIds(['Abc', '007'], entity('text'), 'resync')).to.deep.equal(['Abc', '007']);
    // A uuid key SQLite keeps as text (compared as spelled): as the app spelled it, which the rows keep.
    expect(checkedIds(['CA25B1E0-0000-4000-8000-00000000000A'], entity('uuid-text'), 'resync'))
      .to.deep.equal(['CA25B1E0-0000-4000-8000-00000000000A']);
  });

  it('are refused for a uuid key kept as text when they are not uuids (a trial passed "x" and 42 on SQLite)', () => {
    for (const [id, shown] of [['x', '"x"'], [42, '42']] as const) {
      expect(() => checkedIds([id], entity('uuid-text'), 'notifyChanged(Product, ids)')).to.throw(SubjectIdsError,
        `notifyChanged(Product, ids): Order.id is a uuid key, so ids must be uuids; ${shown} is not one.`);
    }
  });

  it('are refused when no row can have them, naming the rule', () => {
    expect(() => checkedIds(['4x'], entity('integer'), 'resync(OrderSync, { ids })')).to.throw(
      'resync(OrderSync, { ids }): Order.id is an integer key, so ids must be whole numbers; "4x" is not one. ' +
      'Nothing was done: fix it and call again.');
    // Exported by name (a trial could catch it only as its parent), and still a ConfigurationError.
    expect(() => checkedIds(['4x'], entity('integer'), 'resync')).to.throw(SubjectIdsError);
    expect(() => checkedIds(['4x'], entity('integer'), 'resync')).to.throw(ConfigurationError);
  });

  it('are refused as numbers past 2^53, which may name another row; BigInts and strings of such ids are taken', () => {
    // A trial's Number() of a bigint key gave 9007199254741000 for 9007199254740999: the wrong subject ran.
    for (const kind of ['bigint', 'text', 'integer'] as const) {
      expect(() => checkedIds([1, 2 ** 53 + 2], entity(kind), 'notifyChanged(Shipment, ids)'), kind).to.throw(SubjectIdsError,
        'notifyChanged(Shipment, ids): ids given as numbers past Number.MAX_SAFE_INTEGER (2^53 - 1), where a number may ' +
        'already have lost digits (9007199254740993 reads as 9007199254740992) and so name another row: give Order.id ' +
        'values as strings (or BigInts); 9007199254740994 is not one. Nothing was done: fix it and call again.');
    }
    expect(checkedIds([9007199254740993n, '9007199254740999', 2 ** 53 - 1], entity('bigint'), 'resync'))
      .to.deep.equal(['9007199254740993', '9007199254740999', '9007199254740991']);
    expect(() => checkedIds([2n ** 64n], entity('bigint'), 'resync')).to.throw(SubjectIdsError, 'from -2^63 to 2^63-1; 18446744073709551616 is not one');
  });
});

describe('subject ids a @SubjectIdsFrom method returns', () => {
  const machine = { className: 'TicketSync', subjectInfo: entity('integer') } as unknown as MachineDefinition;
  const said = (result: unknown) => {
    try {
      return normalizeIds(result, machine, 'ticketsOf', 'Agent', '10').join(',');
    } catch (error) {
      return (error as Error).message.replace(/ among the subject ids for Agent 10.*$/, '');
    }
  };

  it('for a uuid key kept as text, numbers are refused naming the key (a trial\'s change passed as 6 gone subjects)', () => {
    const uuids = { className: 'ProductSync', subjectInfo: { ...entity('uuid-text'), name: 'Product' } } as unknown as MachineDefinition;
    expect(() => normalizeIds([1, 2], uuids, 'productsOf', 'Warehouse', 'w1')).to.throw(
      'ProductSync.productsOf returned the number 1 among the subject ids for Warehouse w1, which no Product can have ' +
      '(Product.id is a uuid key): return Product ids.');
  });

  it('are spelled as the rows spell them, duplicates once', () => {
    expect(said(['007', 7, 8n, null])).to.equal('TicketSync.ticketsOf returned null');
    expect(said(['007', 7, 8n])).to.equal('7,8');
    expect(said(undefined)).to.equal('');
  });

  it('are refused saying what each was: an empty string, a number that is not whole, a Date, an object', () => {
    // Before, '' read as "returned  among", 1.5 as "1.5" (a string?), and a Date as its quoted ISO string (a trial).
    expect(said([''])).to.equal('TicketSync.ticketsOf returned an empty string');
    expect(said([1.5])).to.equal('TicketSync.ticketsOf returned the number 1.5');
    expect(said(['abc'])).to.equal('TicketSync.ticketsOf returned the string "abc"');
    expect(said([new Date(0)])).to.equal('TicketSync.ticketsOf returned a Date (1970-01-01T00:00:00.000Z)');
    expect(said([{ not: 'an id' }])).to.equal('TicketSync.ticketsOf returned an object ({"not":"an id"})');
    expect(said([[1, 2]])).to.equal('TicketSync.ticketsOf returned an array nested in the array ([1,2])');
  });
});

describe('which uuid keys are one id in any case', () => {
  it('those the database compares regardless of case; SQLite and binary collations compare as spelled', () => {
    expect(uuidFoldsCase('postgresql', 'uuid')).to.equal(true);
    expect(uuidFoldsCase('postgresql', 'varchar')).to.equal(false); // text compares as spelled on PostgreSQL
    expect(uuidFoldsCase('mysql', 'uuid')).to.equal(true); // MariaDB's uuid column
    expect(uuidFoldsCase('mysql', 'varchar(36)')).to.equal(true); // the default collations end in _ci
    expect(uuidFoldsCase('mysql', 'varchar', 'utf8mb4_0900_ai_ci')).to.equal(true);
    expect(uuidFoldsCase('mysql', 'varchar', 'utf8mb4_bin')).to.equal(false);
    expect(uuidFoldsCase('mysql', 'char', 'binary')).to.equal(false);
    expect(uuidFoldsCase('sqlite', 'varchar')).to.equal(false);
    expect(uuidFoldsCase(undefined, 'uuid')).to.equal(false);
    // Rows of such a key are read as subject ids spell them.
    expect(rowId('uuid', 'CA25B1E0-0000-4000-8000-00000000000A')).to.equal('ca25b1e0-0000-4000-8000-00000000000a');
    expect(rowId('uuid-text', 'CA25B1E0-0000-4000-8000-00000000000A')).to.equal('CA25B1E0-0000-4000-8000-00000000000A');
    expect(rowId('integer', 7)).to.equal('7');
  });
});
