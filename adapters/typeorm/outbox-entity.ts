import { EntitySchema } from 'typeorm';
import { OUTBOX_ENTITY_NAME, OUTBOX_TABLE, SyncMachineOutboxRow } from '../../lib/store/outbox-row';

export { OUTBOX_ENTITY_NAME, OUTBOX_TABLE };
export type { SyncMachineOutboxRow };

/**
 * The outbox of `capture: 'outbox'`: captured changes written in the application's own transaction.
 * Add it to your DataSource: `entities: [..., SyncMachineOutbox]` (and CreateSyncMachineOutbox1764892800000 to migrations).
 */
export const SyncMachineOutbox = new EntitySchema<SyncMachineOutboxRow>({
  name: OUTBOX_ENTITY_NAME,
  tableName: OUTBOX_TABLE,
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    entry: { type: 'text' },
    createdAt: { name: 'created_at', type: Date },
  },
});
