/** Namespaced reflect-metadata keys; the decorators write them, lib/metadata reads them. */
export const MACHINE_KEY = 'sync-machine:machine';
export const LISTEN_TO_KEY = 'sync-machine:listen-to';
export const SUBJECT_IDS_FROM_KEY = 'sync-machine:subject-ids-from';
export const HOOKS_KEY = 'sync-machine:hooks';

/** A class the ORM knows as an entity (TypeORM entity class, MikroORM entity class). */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export type EntityClass = Function;

export interface MachineOptions {
  /** The entity whose rows the external API knows about. */
  subject: EntityClass;
  /** Defaults to the class name; it names queues, Redis keys and payload rows. */
  name?: string;
  /**
   * Relations to load with the subject before `@Build` (eager relations load anyway), in the ORM's own shape:
   * TypeORM's `FindOptionsRelations` (`{ customer: { address: true } }`) or MikroORM's populate
   * (`['customer.address']`). Either form works on either ORM; names are checked at start.
   */
  relations?: RelationSpec;
  /** Subjects (or changed rows) one run takes at once. Default 500, at most 1,000. */
  batchSize?: number;
  /**
   * Wait this long after a subject's first pending change before running it, so bursts coalesce. Default 0, at most
   * 100,000 (a migration that takes longer coalesces fully when run with the workers stopped).
   */
  debounceMs?: number;
  /**
   * 'body' (default) keeps the last published payload; 'digest' keeps only its sha256, no payload at rest
   * (`ctx.previous` and `@Unpublish`'s last payload are then undefined).
   */
  store?: 'body' | 'digest';
  /** At most `max` publishes (and unpublishes) per `perMs`, across all workers. */
  rateLimit?: { max: number; perMs: number };
}

/** Relation paths as an object tree (`{ customer: true }`) or a list of dotted paths (`['customer.address']`). */
export type RelationSpec = readonly string[] | { readonly [relation: string]: boolean | RelationSpec | undefined };


/** What `@ListenTo` records. */
export interface ListenToRecord {
  entity: EntityClass;
  /** Only updates that touch one of these properties enqueue work. */
  fields?: string[];
  /** The options as given, checked at start (an unknown key, `fields` that is not a list). */
  options?: Readonly<Record<string, unknown>>;
}

export interface SubjectIdsFromRecord {
  entity: EntityClass;
  method: string;
}

export type HookRole = 'build' | 'publish' | 'checkPublishable' | 'afterPublish' | 'unpublish';

export interface HookRecord {
  role: HookRole;
  method: string;
}

/** Appends to an array kept on the class, never sharing the parent's array. */
export function appendMetadata<T>(key: string, target: object, value: T): void {
  const own: T[] = Reflect.getOwnMetadata(key, target) ?? [...(Reflect.getMetadata(key, target) ?? [])];
  own.push(value);
  Reflect.defineMetadata(key, own, target);
}
