import type { MikroORM } from '@mikro-orm/core';
import { COLUMN_BYTES_SQL, columnBytes } from '../../lib/store/column-bytes';
import { dialectOf } from './migration';

/** How many bytes a text column of our tables holds on MySQL/MariaDB (lib/store/column-bytes.ts); undefined elsewhere. */
export async function textColumnBytes(orm: MikroORM, table: string, column: string): Promise<number | undefined> {
  if (dialectOf(orm) !== 'mysql') return undefined;
  return columnBytes(orm.em.fork().getConnection().execute(COLUMN_BYTES_SQL, [null, table, column]));
}
