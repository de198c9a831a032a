import 'reflect-metadata';
import { appendMetadata, HOOKS_KEY, HookRole } from './metadata-keys';

function hook(role: HookRole): () => MethodDecorator {
  return () => (prototype, method) => {
    appendMetadata(HOOKS_KEY, prototype.constructor, { role, method: String(method) });
  };
}

/** Required: `(subject) => payload`, the document the API should hold. */
export const Build = hook('build');
/** Required: `(subject, payload) => void`, sends the payload. */
export const Publish = hook('publish');
/** Optional: `(subject) => boolean`; default: always publishable. */
export const CheckPublishable = hook('checkPublishable');
/** Optional: `(subject, payload) => void`, runs after a publish was stored. */
export const AfterPublish = hook('afterPublish');
/** Optional: `(subjectId, lastPayload) => void`, the subject is gone or no longer publishable. */
export const Unpublish = hook('unpublish');
