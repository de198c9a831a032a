import 'reflect-metadata';
import { appendMetadata, EntityClass, SUBJECT_IDS_FROM_KEY } from './metadata-keys';

/** The decorated method maps a changed `entity` to the subject ids it affects. */
export function SubjectIdsFrom(entity: EntityClass): MethodDecorator {
  return (prototype, method) => {
    appendMetadata(SUBJECT_IDS_FROM_KEY, prototype.constructor, { entity, method: String(method) });
  };
}
