import { expect } from 'chai';
import { DataSource } from 'typeorm';
import { AddSyncMachinePayloadVersion1796083200000, CreateSyncMachinePayloads1764288000000, SyncMachinePayload } from '../../adapters/typeorm';
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
        ['body', 'digest', 'generated_at', 'machine', 'published_at', 'subject_id', 'version']);
      expect(table!.primaryColumns.map((c) => c.name).sort()).to.deep.equal(['machine', 'subject_id']);

      await ds.undoLastMigration(); // the version migration: the table made by the first had the column already
      expect(await ds.createQueryRunner().hasColumn(ds.getMetadata(SyncMachinePayload).tablePath, 'version')).to.equal(false);
      await ds.undoLastMigration();
      expect(await ds.createQueryRunner().hasTable(ds.getMetadata(SyncMachinePayload).tablePath)).to.equal(false);
      await ds.runMigrations();
      expect(ds.migrations.map((m) => m.name)).to.deep.equal(
        [new CreateSyncMachinePayloads1764288000000().name, new AddSyncMachinePayloadVersion1796083200000().name]);
      expect((await ds.driver.createSchemaBuilder().log()).upQueries).to.deep.equal([]);
    });

    it('adds version to a table made before it existed, keeping its rows', async () => {
      const runner = ds.createQueryRunner();
      const table = ds.getMetadata(SyncMachinePayload).tablePath;
      await runner.dropColumn(table, 'version');
      const quoted = table.split('.').map((part) => ds.driver.escape(part)).join('.');
      await runner.query(`INSERT INTO ${quoted} (machine, subject_id, body, digest, generated_at) VALUES ('M', '1', '{}', 'd', CURRENT_TIMESTAMP)`);
      await new AddSyncMachinePayloadVersion1796083200000().up(runner);
      const rows = await ds.getRepository(SyncMachinePayload).find();
      expect(rows.map((r) => [r.subjectId, r.version])).to.deep.equal([['1', 0]]);
      await runner.release();
    });
  });
}
