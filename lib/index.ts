export {
  SyncMachine, ListenTo, SubjectIdsFrom, CheckPublishable, Build, Publish, AfterPublish, Unpublish,
} from '../decorators';
export type {
  MachineOptions, ListenToOptions, EntityClass, EntityConstructor, FieldOf, KeyOf, Snapshot, SubjectIds, SubjectIdsMapper,
} from '../decorators';
export { SyncMachines } from './runtime/sync-machines';
export type { ResyncOptions, DrainOptions, StatusOptions } from './runtime/sync-machines';
export type { MachineStatus, QueueCounts } from './runtime/status';
export type { FailedJob } from './runtime/failed-jobs';
export type { RecentPublish } from './redis/recent-publishes';
export type { Step } from './redis/keys';
export { runCli } from './cli/run';
export type { SyncMachineConfig } from './cli/config';
export type { StartOptions, WorkerOptions } from './runtime/options';
export type {
  Change, ChangeOp, CapturedChange, ColumnFilter, EntityInfo, OrmAdapter, PayloadStore, StoredPayload,
} from './ports';
export type { Logger } from './logger';
export {
  SyncMachineError, ConfigurationError, InvalidJobError, HookError, LockLostError, DrainTimeoutError,
} from './errors';
export { canonicalJson, digestOf } from './store/canonical-json';
