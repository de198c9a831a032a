export { SyncMachinePayload, PAYLOAD_TABLE } from './payload-entity';
export type { SyncMachinePayloadRow } from './payload-entity';
export { createPayloadTable, dropPayloadTable, payloadTableSql } from './migration';
export type { PayloadTableDialect, PayloadTableSql } from './migration';
export { MikroOrmAdapter } from './adapter';
