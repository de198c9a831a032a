export {
  SyncMachine, ListenTo, SubjectIdsFrom, CheckPublishable, Build, Publish, AfterPublish, Unpublish,
} from '../decorators';
export type {
  MachineOptions, ListenToOptions, EntityClass, EntityConstructor, FieldOf, KeyOf, RelationSpec, Snapshot, SubjectIds,
  SubjectIdsMapper,
} from '../decorators';
export { SyncMachines } from './runtime/sync-machines';
export type { PublishContext } from './pipeline/ensure-publication';
export type { ResyncOptions, DrainOptions, StatusOptions } from './runtime/sync-machines';
export type { DefinitionCount, MachineStatus, QueueCounts, RecentPublish } from './runtime/status';
export type { OtherMachineWork } from './redis/other-machines';
export type { FailedItem } from './runtime/failures';
export type { SubjectStatus } from './runtime/subject-status';
export type {
  ReconcileOptions, ReconcileReport, DifferingSubject, UnpublishableSubject,
} from './runtime/reconcile';
export type { DrainSummary, DrainFailure, DrainChangeFailure, DroppedChange } from './runtime/drain';
export type { FailedTicket } from './queue/bee-queue-storage';
export { KeySpace } from './redis/keys';
export type { Step, StepKeys, BeeQueueKey } from './redis/keys';
export { runCli } from './cli/run';
export type { SyncMachineConfig } from './cli/config';
export type { StartOptions, WorkerOptions } from './runtime/options';
export type {
  Change, ChangeOp, CapturedChange, ColumnFilter, EntityInfo, OrmAdapter, PayloadStore, StoredPayload,
} from './ports';
export type { Logger } from './logger';
export {
  SyncMachineError, ConfigurationError, InvalidJobError, HookError, LockLostError, DrainTimeoutError, RetryAfter,
  WrongKeyTypeError,
} from './errors';
export { SubjectIdsError } from './runtime/subject-ids';
export { RedisUnavailableError } from './redis/availability';
export { canonicalJson, digestOf, NotJsonError } from './store/canonical-json';
