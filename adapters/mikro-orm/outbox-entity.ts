import { EntitySchema } from '@mikro-orm/core';
import { OUTBOX_ENTITY_NAME, OUTBOX_TABLE, SyncMachineOutboxRow } from '../../lib/store/outbox-row';

export { OUTBOX_ENTITY_NAME, OUTBOX_TABLE };
export type { SyncMachineOutboxRow };

/**
 * The outbox of `capture: 'outbox'`: the same table as `sync-machine/typeorm`'s. Add it to your config:
 * `entities: [..., SyncMachineOutbox]`, and create its table with createOutboxTable(orm) or outboxTableSql().
 */
export const SyncMachineOutbox = new EntitySchema<SyncMachineOutboxRow>({
  name: OUTBOX_ENTITY_NAME,
  tableName: OUTBOX_TABLE,
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    entry: { type: 'text' },
    createdAt: { type: 'datetime', fieldName: 'created_at' },
  },
});
