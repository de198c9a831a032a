import { EntitySchema } from '@mikro-orm/core';
import { PAYLOAD_ENTITY_NAME, PAYLOAD_TABLE, SyncMachinePayloadRow } from '../../lib/store/payload-row';

export { PAYLOAD_ENTITY_NAME, PAYLOAD_TABLE };
export type { SyncMachinePayloadRow };

/**
 * The payload store: the same table as `sync-machine/typeorm`'s. An EntitySchema, so the app needs no
 * decorator settings of ours. Add it to your config: `entities: [..., SyncMachinePayload]`.
 */
export const SyncMachinePayload = new EntitySchema<SyncMachinePayloadRow>({
  name: PAYLOAD_ENTITY_NAME,
  tableName: PAYLOAD_TABLE,
  properties: {
    machine: { type: 'string', length: 200, primary: true },
    subjectId: { type: 'string', fieldName: 'subject_id', length: 200, primary: true },
    body: { type: 'text' },
    digest: { type: 'string', length: 64 },
    generatedAt: { type: 'datetime', fieldName: 'generated_at' },
    publishedAt: { type: 'datetime', fieldName: 'published_at', nullable: true },
    version: { type: 'integer', default: 0 },
  },
});
