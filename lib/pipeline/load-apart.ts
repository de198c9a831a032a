import { describeError, SyncMachineError } from '../errors';
import type { Logger } from '../logger';

/** The rows a batch's load gave, and the ids whose rows could not be loaded, each with its error. */
export interface LoadedParts {
  rows: Map<string, object>;
  unloadable: Map<string, unknown>;
}

/**
 * After a batch's one-query load failed: loads it again in halves, and halves of the halves that fail, so that a row
 * the ORM cannot load (a value its transformer refuses, an id PostgreSQL cannot cast to the key's type) fails its
 * own subject only. Every failed try was retried together before, and the one row held back the whole batch on
 * every attempt. A load that fails for every row costs at most 2n - 1 queries, each failing as fast as the first.
 * Says once (`loading`: what was being loaded) how many rows could not be; each fails with unloadableError().
 */
export async function loadApart(
  load: (ids: string[]) => Promise<Map<string, object>>, ids: string[], error: unknown, logger: Logger, loading: string,
): Promise<LoadedParts> {
  const parts: LoadedParts = { rows: new Map(), unloadable: new Map() };
  const split = async (part: string[], failure: unknown): Promise<void> => {
    if (part.length === 1) {
      parts.unloadable.set(part[0], failure);
      return;
    }
    const half = Math.ceil(part.length / 2);
    await Promise.all([part.slice(0, half), part.slice(half)].map(async (piece) => {
      let rows: Map<string, object>;
      try {
        rows = await load(piece);
      } catch (pieceError) {
        return split(piece, pieceError);
      }
      for (const [id, row] of rows) parts.rows.set(id, row);
    }));
  };
  await split(ids, error);
  if (ids.length > 1) {
    logger.warn(`${loading} failed (${describeError(error)}); loaded in parts, ` +
      `${parts.unloadable.size} of them could not be loaded and fail alone.`);
  }
  return parts;
}

/**
 * What a subject (or changed row) whose row loadApart could not load fails with: the ORM's own error, as its cause.
 * Said as a failed load, not a bad row: a dropped connection fails a piece too (a trial read it as a bad row).
 */
export function unloadableError(cause: unknown): SyncMachineError {
  return new SyncMachineError(`loading its row failed, alone (the rest of its batch loaded): ${describeError(cause)}`, { cause });
}
