import type { PublishedPayload } from '../ports';

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
  /** 1, 2, 3 ...: +1 per successful publish of this subject (`ctx.version`); 0 for rows written before it existed. */
  version: number;
}

/** The one table every adapter maps, under one entity name. */
export const PAYLOAD_ENTITY_NAME = 'SyncMachinePayload';
export const PAYLOAD_TABLE = 'sync_machine_payloads';

/**
 * The rows one batch's publishes are stored as, one publishedAt for all: each column named, so that a statement built
 * from them (a driver upsert, a query builder's values) gets no property of a PublishedPayload that is not a column.
 */
export function publishedRows(machine: string, published: PublishedPayload[], publishedAt = new Date()): SyncMachinePayloadRow[] {
  return published.map((p) => ({
    machine, subjectId: p.subjectId, body: p.body, digest: p.digest, generatedAt: p.generatedAt, publishedAt, version: p.version,
  }));
}
