import { MigrationInterface, QueryRunner, Table } from 'typeorm';
import { OUTBOX_TABLE } from './outbox-entity';

/** Creates `sync_machine_outbox` (capture: 'outbox'). Add it to your DataSource's `migrations` and run them. */
export class CreateSyncMachineOutbox1764892800000 implements MigrationInterface {
  name = 'CreateSyncMachineOutbox1764892800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const timestamp = queryRunner.connection.driver.normalizeType({ type: Date });
    await queryRunner.createTable(new Table({
      name: OUTBOX_TABLE,
      columns: [
        { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
        { name: 'entry', type: 'text' },
        { name: 'created_at', type: timestamp },
      ],
    }), true);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(OUTBOX_TABLE, true);
  }
}
