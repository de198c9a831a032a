export { SyncMachinePayload, PAYLOAD_TABLE } from './payload-entity';
export type { SyncMachinePayloadRow } from './payload-entity';
export { AddSyncMachinePayloadVersion1796083200000, CreateSyncMachinePayloads1764288000000 } from './migration';
export { TypeOrmAdapter } from './adapter';
