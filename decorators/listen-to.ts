import 'reflect-metadata';
import { appendMetadata, EntityClass, LISTEN_TO_KEY, ListenToRecord } from './metadata-keys';
import type { FieldOf, InstanceOf } from './types';

/** `@ListenTo` options; `fields` must name properties of the entity (checked by the compiler, and again at start). */
export interface ListenToOptions<E = unknown> {
  /** Only updates that touch one of these properties enqueue work. */
  fields?: ReadonlyArray<unknown extends E ? string : FieldOf<E>>;
}

/**
 * Changes to `entity` (optionally only to `fields`) may change this machine's payloads. For an entity class, the
 * compiler checks `fields` against its properties; an entity known only as `Function` is checked at start.
 */
export function ListenTo<C extends EntityClass>(entity: C, options: ListenToOptions<InstanceOf<C>> = {}): ClassDecorator {
  return (target) => {
    const fields = Array.isArray(options?.fields) ? { fields: [...options.fields] as string[] } : {};
    const record: ListenToRecord = { entity, ...fields, options: { ...options } };
    appendMetadata(LISTEN_TO_KEY, target, record);
  };
}
