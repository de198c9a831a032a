import { EntitySchema } from 'typeorm';

/** A row of `sync_machine_payloads`: the last payload published for one subject of one machine. */
export interface SyncMachinePayloadRow {
  machine: string;
  subjectId: string;
  /** Canonical JSON of the payload. */
  body: string;
  /** sha256 of `body`. */
  digest: string;
  /** When the run that produced `body` (or found it unchanged) started reading. */
  generatedAt: Date;
  publishedAt: Date | null;
}

export const PAYLOAD_ENTITY_NAME = 'SyncMachinePayload';
export const PAYLOAD_TABLE = 'sync_machine_payloads';

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
  },
});
