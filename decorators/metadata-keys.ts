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
  /** Relations to load with the subject before `@Build` (eager relations load anyway). */
  relations?: string[];
}

/** What `@ListenTo` records. */
export interface ListenToRecord {
  entity: EntityClass;
  /** Only updates that touch one of these properties enqueue work. */
  fields?: string[];
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
