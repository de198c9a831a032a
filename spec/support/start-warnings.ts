import { SyncMachines } from '../../lib';
import { MemoryLogger } from './logger';
import { deleteKeys, freshPrefix, REDIS_URL } from './redis';

/** The warnings start() logs for `machines` on `orm` (capture only, a fresh prefix), which it then closes. */
export async function startWarnings(orm: unknown, machines: object[]): Promise<string[]> {
  const logger = new MemoryLogger();
  const prefix = freshPrefix('start-warnings');
  try {
    const sync = await SyncMachines.start({ orm: orm as never, redis: REDIS_URL, prefix, logger, machines });
    await sync.close();
  } finally {
    await deleteKeys(prefix);
  }
  return logger.warnings();
}

/** What start() says of TitleOnly, whose Article loads "tags" that its fields leave out (both ORMs' links suites). */
export const UNWATCHED_TAGS_WARNING = 'TitleOnly loads "tags" (relations), which @ListenTo(Article, { fields }) leaves ' +
  'out: a link added to or removed from that many-to-many relation changes no row, and is captured only as a change ' +
  'of "tags", so it runs no Article and its payload stays as it was. Add "tags" to fields, or take it out of relations ' +
  'if @Build does not read it.';
