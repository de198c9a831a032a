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
 * MySQL and MariaDB: how many bytes the payload table's body column holds (TEXT: 65,535; LONGTEXT: 4 GB), in the
 * given database or the connection's. Both adapters ask it at start.
 */
export const BODY_COLUMN_SQL = 'SELECT CHARACTER_OCTET_LENGTH AS bytes FROM information_schema.COLUMNS ' +
  "WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = 'body'";

/** BODY_COLUMN_SQL's answer, when it is small enough for a payload to outgrow (a LONGTEXT's is not). */
export function bodyColumnBytes(rows: Array<{ bytes?: unknown }>): number | undefined {
  const bytes = Number(rows[0]?.bytes);
  return Number.isFinite(bytes) && bytes > 0 && bytes < 2 ** 31 ? bytes : undefined;
}
