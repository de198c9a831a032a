import type { DataSource, EntityMetadata } from 'typeorm';
import { COLUMN_BYTES_SQL, columnBytes } from '../../lib/store/column-bytes';

export const MYSQL_TYPES = new Set<string>(['mysql', 'mariadb', 'aurora-mysql']);

/** How many bytes a text column of our tables holds on MySQL/MariaDB (lib/store/column-bytes.ts); undefined elsewhere. */
export async function textColumnBytes(dataSource: DataSource, table: EntityMetadata, column: string): Promise<number | undefined> {
  if (!MYSQL_TYPES.has(dataSource.options.type)) return undefined;
  return columnBytes(dataSource.query(COLUMN_BYTES_SQL, [table.database ?? null, table.tableName, column]));
}
