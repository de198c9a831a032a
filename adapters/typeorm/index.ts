export { SyncMachinePayload, PAYLOAD_TABLE } from './payload-entity';
export type { SyncMachinePayloadRow } from './payload-entity';
export { CreateSyncMachinePayloads1764288000000 } from './migration';
export { TypeOrmAdapter } from './adapter';
