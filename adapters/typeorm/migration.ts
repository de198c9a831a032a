import { MigrationInterface, QueryRunner, Table } from 'typeorm';
import { PAYLOAD_TABLE } from './payload-entity';

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
      ],
    }), true);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(PAYLOAD_TABLE, true);
  }
}
