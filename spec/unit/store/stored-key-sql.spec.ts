import { expect } from 'chai';
import { keyOfStoredId, SqlDialect } from '../../../lib/store/stored-key-sql';

/** The key SQL of the gone-subject query; the query itself runs against every database in the conformance suite. */
describe('keyOfStoredId', () => {
  const dialects: SqlDialect[] = ['postgresql', 'mysql', 'sqlite'];

  it('casts a stored id to an integer key only when it is a whole number, and compares text keys as they are', () => {
    expect(keyOfStoredId('postgresql', 'INTEGER', 's')).to.equal("CASE WHEN s ~ '^-{0,1}[0-9]{1,18}$' THEN CAST(s AS bigint) END");
    expect(keyOfStoredId('mysql', 'bigint(20)', 's')).to.equal("CASE WHEN s REGEXP '^-{0,1}[0-9]{1,18}$' THEN CAST(s AS SIGNED) END");
    expect(keyOfStoredId('sqlite', 'integer', 's')).to.equal('CASE WHEN CAST(CAST(s AS INTEGER) AS TEXT) = s THEN CAST(s AS INTEGER) END');
    expect(keyOfStoredId('postgresql', 'uuid', 's')).to.match(/^CASE WHEN s ~ '.+' THEN CAST\(s AS uuid\) END$/);
    for (const dialect of dialects) expect(keyOfStoredId(dialect, 'varchar(36)', 's'), dialect).to.equal('s');
    expect(keyOfStoredId('mysql', 'uuid', 's')).to.equal('s');
  });

  it('knows no key of another type, so the walk compares ids in memory instead', () => {
    for (const dialect of dialects) {
      for (const type of ['numeric', 'decimal(10,2)', 'datetime', 'real', 'citext', '']) {
        expect(keyOfStoredId(dialect, type, 's'), `${dialect} ${type}`).to.equal(undefined);
      }
    }
  });

  it('writes no `?`, which knex (MikroORM) would take for a parameter', () => {
    for (const dialect of dialects) {
      for (const type of ['int', 'bigint', 'uuid', 'text']) expect(keyOfStoredId(dialect, type, 's') ?? '').to.not.include('?');
    }
  });
});
