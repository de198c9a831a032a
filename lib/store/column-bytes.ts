/*
 * MySQL and MariaDB: how many bytes a text column of ours holds. Our tables declare `text`, the one type every
 * supported database and both ORMs' schema tools agree on, and MySQL's TEXT holds 65,535 bytes. Both adapters ask
 * at start, so that a payload body or an outbox entry longer than that is written smaller, not refused.
 */

/** Parameters: the database (null for the connection's own), the table, the column. */
export const COLUMN_BYTES_SQL = 'SELECT CHARACTER_OCTET_LENGTH AS bytes FROM information_schema.COLUMNS ' +
  'WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = ?';

/**
 * COLUMN_BYTES_SQL's answer, when it is small enough to outgrow (a LONGTEXT's 4 GB is not); else undefined, also
 * when the query fails (the tables were read, so the app starts: only this guard is missing then).
 */
export async function columnBytes(query: Promise<Array<{ bytes?: unknown }>>): Promise<number | undefined> {
  let rows: Array<{ bytes?: unknown }>;
  try {
    rows = await query;
  } catch {
    return undefined;
  }
  const bytes = Number(rows[0]?.bytes);
  return Number.isFinite(bytes) && bytes > 0 && bytes < 2 ** 31 ? bytes : undefined;
}

/** Whether `text` takes more than `limit` bytes in UTF-8 (counted only when its length cannot tell). */
export function longerThan(text: string, limit: number | undefined): boolean {
  // UTF-8 takes at least one byte per UTF-16 unit and at most three.
  if (limit === undefined || text.length * 3 <= limit) return false;
  return text.length > limit || Buffer.byteLength(text) > limit;
}
