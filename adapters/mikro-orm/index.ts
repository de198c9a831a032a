export { SyncMachinePayload, PAYLOAD_TABLE } from './payload-entity';
export type { SyncMachinePayloadRow } from './payload-entity';
export { createOutboxTable, createPayloadTable, dropOutboxTable, dropPayloadTable, outboxTableSql, payloadTableSql } from './migration';
export type { PayloadTableDialect, PayloadTableSql } from './migration';
export { MikroOrmAdapter } from './adapter';
export { SyncMachineOutbox, OUTBOX_TABLE } from './outbox-entity';
export type { SyncMachineOutboxRow } from './outbox-entity';
