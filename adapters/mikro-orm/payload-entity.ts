import { EntitySchema } from '@mikro-orm/core';

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
  },
});
