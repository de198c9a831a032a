import type { EntityMetadata, MikroORM } from '@mikro-orm/core';

/**
 * Names for the few statements the adapter writes itself, as the platform quotes them: an identifier is quoted
 * (a naming strategy may make `subjectId`, which PostgreSQL would fold), and a table carries its schema.
 */
export function sqlNames(orm: MikroORM): { q(name: string): string; table(meta: EntityMetadata): string; column(meta: EntityMetadata, property: string): string } {
  const platform = orm.em.getPlatform();
  const q = (name: string) => platform.quoteIdentifier(name);
  return {
    q,
    table(meta) {
      const schema = meta.schema && meta.schema !== '*' ? meta.schema : orm.config.get('schema');
      return q(schema ? `${schema}.${meta.tableName}` : meta.tableName);
    },
    column: (meta, property) => q(meta.properties[property as never].fieldNames[0]),
  };
}
