import 'reflect-metadata';
import { appendMetadata, EntityClass, LISTEN_TO_KEY, ListenToOptions } from './metadata-keys';

/** Changes to `entity` (optionally only to `fields`) may change this machine's payloads. */
export function ListenTo(entity: EntityClass, options: ListenToOptions = {}): ClassDecorator {
  return (target) => {
    appendMetadata(LISTEN_TO_KEY, target, { entity, ...options });
  };
}
