import 'reflect-metadata';
import { appendMetadata, HOOKS_KEY, HookRole } from './metadata-keys';

/* eslint-disable @typescript-eslint/no-explicit-any -- a hook's subject and payload types are the machine's own */

/** A decorator that only methods of the shape `M` accept (a property, or a method of another shape, fails to compile). */
type HookDecorator<M> = () => <T extends M>(prototype: object, method: string | symbol, descriptor: TypedPropertyDescriptor<T>) => void;

function hook<M>(role: HookRole): HookDecorator<M> {
  return () => (prototype, method) => {
    appendMetadata(HOOKS_KEY, prototype.constructor, { role, method: String(method) });
  };
}

/** Required: `(subject) => payload`, the document the API should hold. */
export const Build = hook<(subject: any, ...rest: any[]) => unknown>('build');
/** Required: `(subject, payload) => void`, sends the payload. */
export const Publish = hook<(subject: any, payload: any, ...rest: any[]) => unknown>('publish');
/** Optional: `(subject) => boolean`; default: always publishable. */
export const CheckPublishable = hook<(subject: any, ...rest: any[]) => boolean | Promise<boolean>>('checkPublishable');
/** Optional: `(subject, payload) => void`, runs after a publish was stored. */
export const AfterPublish = hook<(subject: any, payload: any, ...rest: any[]) => unknown>('afterPublish');
/** Optional: `(subjectId, lastPayload) => void`, the subject is gone or no longer publishable. */
export const Unpublish = hook<(subjectId: string, lastPayload: any, ...rest: any[]) => unknown>('unpublish');
