import { ConfigurationError } from '../errors';

/**
 * Why an entity whose primary key is not one column cannot be tracked, and how to give it one in its ORM. A join
 * entity keyed on its two relations (product + warehouse) is the usual case: a trial followed the bare "listen to an
 * entity that has one" and dropped its @ListenTo, and stock changes then reached no subject.
 */
export function singleColumnKeyNeeded(orm: string, entity: string, keys: string[]): ConfigurationError {
  if (keys.length === 0) {
    return new ConfigurationError(`${entity} has no primary key: sync-machine tracks rows by a single-column primary key; give it one.`);
  }
  const listed = keys.map((key) => `'${key}'`).join(', ');
  const how = orm === 'MikroORM'
    ? `\`@PrimaryKey() id!: number\` and \`@Unique({ properties: [${listed}] })\` on the class, with \`primary: true\` dropped from ${keys.join(' and ')}`
    : `\`@PrimaryGeneratedColumn() id!: number\` and \`@Unique([${listed}])\` on the class, with ${keys.join(' and ')} made ordinary columns or relations`;
  return new ConfigurationError(
    `${entity} has a composite primary key (${keys.join(', ')}): sync-machine tracks rows by a single-column primary ` +
    `key, so it cannot capture ${entity}'s changes, and leaving it unlistened leaves its changes unpublished. Give ` +
    `${entity} a generated key of its own and keep (${keys.join(', ')}) unique: ${how}, and a migration that adds the ` +
    `column. Then listen to it and map to the subjects from its relations.`);
}
