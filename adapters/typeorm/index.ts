export { SyncMachinePayload, PAYLOAD_TABLE } from './payload-entity';
export type { SyncMachinePayloadRow } from './payload-entity';
export { AddSyncMachinePayloadVersion1796083200000, CreateSyncMachinePayloads1764288000000 } from './migration';
export { TypeOrmAdapter } from './adapter';
export { SyncMachineOutbox, OUTBOX_TABLE } from './outbox-entity';
export type { SyncMachineOutboxRow } from './outbox-entity';
export { CreateSyncMachineOutbox1764892800000 } from './outbox-migration';
