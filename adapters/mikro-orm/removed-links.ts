import { ReferenceKind, type EntityManager, type EntityMetadata } from '@mikro-orm/core';
import type { CapturedChange, EntityClass } from '../../lib/ports';

/** A watched entity's many-to-many property that can link to a removed entity, and the pivot table that holds it. */
export interface LinkInto {
  /** The watched entities a change of the linking entity is a change of. */
  as: EntityClass[];
  /** The linking entity's property (`tags`): what its change names, so that `fields` can name it. */
  property: string;
  pivot: string;
  /** The pivot entity's own schema, where it names one; else the flush's (see pivotName). */
  pivotSchema?: string;
  /** The pivot's column holding the removed entity's key, and the one holding the linking entity's. */
  removedColumn: string;
  linkedColumn: string;
}

/** A key lists at most this many values, so that no database refuses the statement for its size. */
const KEYS_PER_QUERY = 500;

/**
 * The many-to-many properties of watched entities that can link to an entity of `removed`: on either side, owning
 * or inverse, one-way ones included. Removing the entity drops its pivot rows (ON DELETE CASCADE, or MikroORM's
 * own delete) and changes no row of the entities it was linked to, so their links are read before it goes (see
 * readLinksInto). Composite keys are left out: a change names one key.
 */
export function linksInto(
  removed: EntityMetadata, all: Iterable<EntityMetadata>, watchedAs: (meta: EntityMetadata) => EntityClass[],
): LinkInto[] {
  const links = new Map<string, LinkInto>();
  const metas = [...all];
  const pivotMetas = new Map(metas.map((meta) => [meta.className, meta]));
  for (const meta of metas) {
    const as = watchedAs(meta);
    if (as.length === 0 || meta.primaryKeys.length !== 1) continue;
    for (const prop of meta.relations) {
      if (prop.kind !== ReferenceKind.MANY_TO_MANY || !prop.targetMeta || !inherits(removed, prop.targetMeta)) continue;
      const owner = prop.owner ? prop : prop.targetMeta.properties[prop.mappedBy];
      if (!owner?.pivotTable) continue;
      const [linked, other] = prop.owner ? [owner.joinColumns, owner.inverseJoinColumns] : [owner.inverseJoinColumns, owner.joinColumns];
      if (linked?.length !== 1 || other?.length !== 1) continue;
      // A single-table child repeats its parent's properties: one read per pivot column serves both.
      const key = [owner.pivotTable, other[0], linked[0], prop.name].join('\0');
      const known = links.get(key);
      if (known) known.as = [...new Set([...known.as, ...as])];
      else {
        const pivotSchema = pivotMetas.get(owner.pivotEntity)?.schema;
        links.set(key, {
          as, property: prop.name, pivot: owner.pivotTable, pivotSchema: pivotSchema === '*' ? undefined : pivotSchema,
          removedColumn: other[0], linkedColumn: linked[0],
        });
      }
    }
  }
  return [...links.values()];
}

/**
 * The link changes of removing entities with these keys: each entity linked to one of them, as an update of its
 * property. Read in the flush's transaction (or before the transaction the flush opens for itself), while the pivot
 * rows are still there, whether or not the removed entities' collections were loaded.
 */
export async function readLinksInto(em: EntityManager, links: LinkInto[], keys: unknown[]): Promise<CapturedChange[]> {
  const changes: CapturedChange[] = [];
  const connection = em.getConnection('write');
  const trx = em.getTransactionContext();
  for (const link of links) {
    for (let i = 0; i < keys.length; i += KEYS_PER_QUERY) {
      const chunk = keys.slice(i, i + KEYS_PER_QUERY);
      const rows = await connection.execute<Array<Record<string, unknown>>>(
        `select distinct ?? from ?? where ?? in (${chunk.map(() => '?').join(', ')})`,
        [link.linkedColumn, pivotName(em, link), link.removedColumn, ...chunk], 'all', trx,
      );
      for (const row of rows) {
        const id = row[link.linkedColumn];
        if (id === undefined || id === null) continue;
        for (const cls of link.as) changes.push({ entity: cls, id: String(id), op: 'update', changedKeys: [link.property] });
      }
    }
  }
  return changes;
}

/**
 * The pivot table as MikroORM's own queries name it: in the pivot entity's schema, else the entity manager's (a
 * fork's), else the config's `schema`. Unqualified, it was looked up on the connection's search_path, and with the
 * `schema` option alone the read failed, and the user's flush with it.
 */
function pivotName(em: EntityManager, link: LinkInto): string {
  if (link.pivot.includes('.')) return link.pivot;
  const schema = link.pivotSchema ?? (em as { schema?: string }).schema ?? em.config.get('schema');
  return schema ? `${schema}.${link.pivot}` : link.pivot;
}

function inherits(meta: EntityMetadata, ancestor: EntityMetadata): boolean {
  for (let cls = meta.class as unknown; typeof cls === 'function' && cls !== Function.prototype; cls = Object.getPrototypeOf(cls)) {
    if (cls === ancestor.class) return true;
  }
  return false;
}
