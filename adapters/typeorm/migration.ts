import { MigrationInterface, QueryRunner, Table, TableColumn, TableColumnOptions } from 'typeorm';
import { PAYLOAD_TABLE } from './payload-entity';

const VERSION_COLUMN: TableColumnOptions = { name: 'version', type: 'integer', default: 0 };

/** Creates `sync_machine_payloads`. Add it to your DataSource's `migrations` and run them. */
export class CreateSyncMachinePayloads1764288000000 implements MigrationInterface {
  name = 'CreateSyncMachinePayloads1764288000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const timestamp = queryRunner.connection.driver.normalizeType({ type: Date });
    await queryRunner.createTable(new Table({
      name: PAYLOAD_TABLE,
      columns: [
        { name: 'machine', type: 'varchar', length: '200', isPrimary: true },
        { name: 'subject_id', type: 'varchar', length: '200', isPrimary: true },
        { name: 'body', type: 'text' },
        { name: 'digest', type: 'varchar', length: '64' },
        { name: 'generated_at', type: timestamp },
        { name: 'published_at', type: timestamp, isNullable: true },
        VERSION_COLUMN,
      ],
    }), true);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(PAYLOAD_TABLE, true);
  }
}

/**
 * Adds `version` (ctx.version of @Publish) to a `sync_machine_payloads` made before it existed; does nothing on a
 * table that has it. Add it to `migrations` after CreateSyncMachinePayloads1764288000000.
 */
export class AddSyncMachinePayloadVersion1796083200000 implements MigrationInterface {
  name = 'AddSyncMachinePayloadVersion1796083200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    if (!(await queryRunner.hasColumn(PAYLOAD_TABLE, 'version'))) await queryRunner.addColumn(PAYLOAD_TABLE, new TableColumn(VERSION_COLUMN));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    if (await queryRunner.hasColumn(PAYLOAD_TABLE, 'version')) await queryRunner.dropColumn(PAYLOAD_TABLE, 'version');
  }
}
