export { SyncMachine } from './sync-machine';
export { ListenTo } from './listen-to';
export { SubjectIdsFrom } from './subject-ids-from';
export { Build, Publish, CheckPublishable, AfterPublish, Unpublish } from './hooks';
export type { MachineOptions, EntityClass, RelationSpec } from './metadata-keys';
export type { ListenToOptions } from './listen-to';
export type { EntityConstructor, FieldOf, InstanceOf, KeyOf, Snapshot, SubjectIds, SubjectIdsMapper } from './types';
