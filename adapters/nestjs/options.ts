import type { FactoryProvider, ModuleMetadata } from '@nestjs/common';
import type { StartOptions } from '../../lib/runtime/options';

/**
 * `SyncMachines.start` options without `machines`: in Nest, the machines are the app's providers decorated with
 * `@SyncMachine`, found at start. `orm` is the app's TypeORM DataSource or MikroORM instance; `logger` defaults to
 * Nest's Logger (context "SyncMachine"). Set `worker` in the application context that runs the jobs.
 */
export type SyncMachineModuleOptions = Omit<StartOptions, 'machines'>;

/** `forRootAsync`: options from a factory, with what it injects (the DataSource, a ConfigService) and the modules that provide them. */
export interface SyncMachineModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  useFactory: (...args: never[]) => SyncMachineModuleOptions | Promise<SyncMachineModuleOptions>;
  inject?: FactoryProvider['inject'];
}

/** The injection token of the resolved options. */
export const SYNC_MACHINE_OPTIONS = Symbol('sync-machine:nestjs-options');
