export { SyncMachineModule } from './sync-machine.module';
export { SYNC_MACHINE_OPTIONS } from './options';
export type { SyncMachineModuleOptions, SyncMachineModuleAsyncOptions } from './options';
