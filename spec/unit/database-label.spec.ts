import { expect } from 'chai';
import { resolve } from 'node:path';
import { databaseLabel } from '../../lib/database-label';

describe('databaseLabel', () => {
  it('names host, port, database and schema, from a URL too, never the password', () => {
    expect(databaseLabel({ type: 'postgres', host: 'db', port: 5432, database: 'shop', schema: 'tenant_a' }))
      .to.equal('postgres db:5432/shop schema tenant_a');
    const fromUrl = databaseLabel({ type: 'postgres', url: 'postgres://app:s3cret@db.internal:6432/shop' });
    expect(fromUrl).to.equal('postgres db.internal:6432/shop');
    expect(fromUrl).to.not.include('s3cret');
    expect(databaseLabel({ type: 'mysql', database: 'shop' })).to.equal('mysql localhost/shop');
  });

  it('tells two tenants apart, and a SQLite file by its absolute path; an in-memory one is its process\' own', () => {
    expect(databaseLabel({ type: 'postgres', host: 'db', database: 'tenant_a' }))
      .to.not.equal(databaseLabel({ type: 'postgres', host: 'db', database: 'tenant_b' }));
    expect(databaseLabel({ type: 'better-sqlite3', database: 'shop.sqlite' })).to.equal(`sqlite ${resolve('shop.sqlite')}`);
    expect(databaseLabel({ type: 'better-sqlite3', database: ':memory:' })).to.match(/^sqlite :memory: [0-9a-f-]{36}$/);
  });
});
