import 'reflect-metadata';
import { appendMetadata, EntityClass, SUBJECT_IDS_FROM_KEY } from './metadata-keys';
import type { InstanceOf, SubjectIdsMapper } from './types';

/**
 * The decorated method maps a changed `entity` to the subject ids it affects. The compiler checks that the
 * method takes that entity (or its `Snapshot`, or either) and returns ids, or nothing.
 */
export function SubjectIdsFrom<C extends EntityClass>(entity: C) {
  return <M extends SubjectIdsMapper<InstanceOf<C>>>(prototype: object, method: string | symbol, _descriptor: TypedPropertyDescriptor<M>): void => {
    appendMetadata(SUBJECT_IDS_FROM_KEY, prototype.constructor, { entity, method: String(method) });
  };
}
