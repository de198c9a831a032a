import { expect } from 'chai';
import type { MikroORM } from '@mikro-orm/core';
import { ConfigurationError } from '../../lib';
import { createPayloadTable, dropPayloadTable, payloadTableSql } from '../../adapters/mikro-orm';
import { DATABASES } from '../support/database';
import { MikroOrmTestDatabase } from '../support/orms/mikro-orm-database';

/** The table SQL must be exactly what MikroORM's schema generator makes of SyncMachinePayload, or apps drift. */
for (const kind of DATABASES) {
  describe(`MikroORM payload table on ${kind}`, () => {
    let db: MikroOrmTestDatabase;
    let orm: MikroORM;
    before(async () => {
      db = await MikroOrmTestDatabase.create(kind, []);
      orm = await db.connect({ createTables: false }); // createPayloadTable() alone, so drift would show
    });
    after(async () => db.destroy());

    /**
     * The schema generator reads the whole catalog: another test run dropping its own schema meanwhile makes that
     * read fail with "does not exist", or with "could not open relation with OID" when the drop lands between
     * PostgreSQL resolving a table and opening it, so such a read is made again (the comparison itself is unchanged).
     */
    const pendingSchemaChanges = async (): Promise<string> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return (await orm.schema.getUpdateSchemaSQL({ wrap: false, ...db.schemaOptions() })).trim();
        } catch (error) {
          if (attempt >= 5 || !/does not exist|could not open relation with OID/.test((error as Error).message)) throw error;
        }
      }
    };

    it('createPayloadTable() makes what SyncMachinePayload describes; it is idempotent and dropPayloadTable() reverts it', async () => {
      expect(await pendingSchemaChanges()).to.equal('');
      await createPayloadTable(orm);
      expect(await pendingSchemaChanges()).to.equal('');

      await dropPayloadTable(orm);
      expect(await pendingSchemaChanges()).to.match(/create table [^;]*sync_machine_payloads/);
      await createPayloadTable(orm);
      expect(await pendingSchemaChanges()).to.equal('');
    });
  });
}

describe('payloadTableSql()', () => {
  it('gives both directions for PostgreSQL (schema-qualified when asked), SQLite and MySQL/MariaDB, and refuses other databases with the fix', () => {
    expect(payloadTableSql('postgresql', 'shop').up[0]).to.match(/^create table if not exists "shop"\."sync_machine_payloads" /);
    expect(payloadTableSql('postgresql').down).to.deep.equal(['drop table if exists "sync_machine_payloads" cascade;']);
    expect(payloadTableSql('sqlite').down).to.deep.equal(['drop table if exists `sync_machine_payloads`;']);
    expect(payloadTableSql('mariadb')).to.deep.equal(payloadTableSql('mysql'));
    expect(payloadTableSql('mysql', 'shop').up[0]).to.match(/^create table if not exists `shop`\.`sync_machine_payloads` /);
    expect(payloadTableSql('mysql').down).to.deep.equal(['drop table if exists `sync_machine_payloads`;']);
    expect(() => payloadTableSql('mssql' as never)).to.throw(ConfigurationError, /no statements for "mssql".*orm\.schema\.updateSchema\(\)/);
  });
});
