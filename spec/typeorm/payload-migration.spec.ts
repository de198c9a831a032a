import { expect } from 'chai';
import { DataSource } from 'typeorm';
import { CreateSyncMachinePayloads1764288000000, SyncMachinePayload } from '../../adapters/typeorm';
import { DATABASES, TestDatabase } from '../support/database';

/** The migration must create exactly what the entity describes, or synchronize-free apps drift. */
for (const kind of DATABASES) {
  describe(`payload migration on ${kind}`, () => {
    let db: TestDatabase;
    let ds: DataSource;
    before(async () => {
      db = await TestDatabase.create(kind, []);
      ds = await db.connect({ synchronize: false }); // the migration alone, so drift would show
    });
    after(async () => db.destroy());

    it('creates sync_machine_payloads matching the SyncMachinePayload entity, and reverts', async () => {
      const pending = await ds.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((q) => q.query)).to.deep.equal([]);
      const table = await ds.createQueryRunner().getTable(ds.getMetadata(SyncMachinePayload).tablePath);
      expect(table!.columns.map((c) => c.name).sort()).to.deep.equal(
        ['body', 'digest', 'generated_at', 'machine', 'published_at', 'subject_id']);
      expect(table!.primaryColumns.map((c) => c.name).sort()).to.deep.equal(['machine', 'subject_id']);

      await ds.undoLastMigration();
      expect(await ds.createQueryRunner().hasTable(ds.getMetadata(SyncMachinePayload).tablePath)).to.equal(false);
      await ds.runMigrations();
      expect(ds.migrations.map((m) => m.name)).to.deep.equal([new CreateSyncMachinePayloads1764288000000().name]);
    });
  });
}
