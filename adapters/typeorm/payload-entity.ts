import { EntitySchema } from 'typeorm';
import { PAYLOAD_ENTITY_NAME, PAYLOAD_TABLE, SyncMachinePayloadRow } from '../../lib/store/payload-row';

export { PAYLOAD_ENTITY_NAME, PAYLOAD_TABLE };
export type { SyncMachinePayloadRow };

/**
 * The payload store. An EntitySchema, so the app needs no decorator settings of ours and TypeORM
 * recognises it even when the app and sync-machine resolve different copies of typeorm.
 * Add it to your DataSource: `entities: [..., SyncMachinePayload]`.
 */
export const SyncMachinePayload = new EntitySchema<SyncMachinePayloadRow>({
  name: PAYLOAD_ENTITY_NAME,
  tableName: PAYLOAD_TABLE,
  columns: {
    machine: { type: 'varchar', length: 200, primary: true },
    subjectId: { name: 'subject_id', type: 'varchar', length: 200, primary: true },
    body: { type: 'text' },
    digest: { type: 'varchar', length: 64 },
    generatedAt: { name: 'generated_at', type: Date },
    publishedAt: { name: 'published_at', type: Date, nullable: true },
    version: { type: 'integer', default: 0 },
  },
});
