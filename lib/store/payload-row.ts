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
 * The digest of a row kept for an unpublished subject: its body '' and its version the unpublish's, so that a
 * subject published again goes on from that version (SPEC §6.2: versions are monotonic). Deleted, the row took its
 * version with it, and a subject removed at 7 and made again went out as 1: a partner that orders calls by version
 * (as the README advises, against late calls) kept the old document's 7 and refused the new one's 1, 2, ... No real
 * digest is empty (sha256 hex), so the payload reads never take the row for a publish.
 */
export const UNPUBLISHED_DIGEST = '';

/** Whether a stored row is a publish, not what an unpublish keeps (UNPUBLISHED_DIGEST). */
export function isPublished(stored: { digest: string } | undefined): boolean {
  return stored !== undefined && stored.digest !== UNPUBLISHED_DIGEST;
}

/** The row an unpublish leaves: no body, no digest, the version the unpublish went out with (or the last publish's). */
export function unpublishedRow(subjectId: string, version: number, generatedAt: Date): PublishedPayload {
  return { subjectId, body: '', digest: UNPUBLISHED_DIGEST, generatedAt, version };
}

/**
 * The rows one batch's publishes are stored as, one publishedAt for all: each column named, so that a statement built
 * from them (a driver upsert, a query builder's values) gets no property of a PublishedPayload that is not a column.
 */
export function publishedRows(machine: string, published: PublishedPayload[], publishedAt = new Date()): SyncMachinePayloadRow[] {
  return published.map((p) => ({
    machine, subjectId: p.subjectId, body: p.body, digest: p.digest, generatedAt: p.generatedAt, publishedAt, version: p.version,
  }));
}
