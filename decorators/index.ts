export { SyncMachine } from './sync-machine';
export { ListenTo } from './listen-to';
export { SubjectIdsFrom } from './subject-ids-from';
export { Build, Publish, CheckPublishable, AfterPublish, Unpublish } from './hooks';
export type { MachineOptions, ListenToOptions, EntityClass, RelationSpec } from './metadata-keys';
