import {
  BeforeApplicationShutdown, DynamicModule, Inject, Injectable, Logger, Module, OnApplicationShutdown, OnModuleInit, Provider,
} from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ConfigurationError } from '../../lib/errors';
import type { Logger as SyncLogger } from '../../lib/logger';
import { resolvePrefix, resolveWorker } from '../../lib/runtime/options';
import { SyncMachines } from '../../lib/runtime/sync-machines';
import { SyncMachineExplorer } from './explorer';
import { SYNC_MACHINE_OPTIONS, SyncMachineModuleAsyncOptions, SyncMachineModuleOptions } from './options';
import { RuntimeSlot, runtimeHandle } from './runtime-handle';

/** sync-machine's log lines through Nest's Logger, so they look like the app's own. */
function nestLogger(): SyncLogger {
  const logger = new Logger('SyncMachine');
  return { info: (m) => logger.log(m), warn: (m) => logger.warn(m), error: (m) => logger.error(m) };
}

/**
 * Starts the runtime once every provider exists (onModuleInit: the machines are providers), and closes it in two
 * parts. Its worker stops before the application's shutdown hooks run, so running jobs finish while the ORM's
 * connection is still open (@nestjs/typeorm and @mikro-orm/nestjs close theirs in onApplicationShutdown). Capture
 * stops in onApplicationShutdown, after Nest has closed the HTTP server: requests still served in between commit
 * (Nest closes it after beforeApplicationShutdown), and a trial's web process lost 8-10 such writes per SIGTERM,
 * most of them answered 200 and in no log line, when the whole runtime closed before.
 */
@Injectable()
export class SyncMachinesLifecycle implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown, RuntimeSlot {
  runtime?: SyncMachines;
  private logger?: SyncLogger;

  constructor(
    @Inject(SYNC_MACHINE_OPTIONS) private readonly options: SyncMachineModuleOptions,
    private readonly explorer: SyncMachineExplorer,
  ) {}

  async onModuleInit(): Promise<void> {
    const imports = this.explorer.countProviders(SyncMachinesLifecycle);
    if (imports > 1) {
      // Each import starts a runtime of its own: every commit captured twice, two workers (a trial: silently).
      throw new ConfigurationError(`SyncMachineModule is imported ${imports} times in this application, and each import ` +
        'would start a runtime of its own: import it once, in the root module (it is global, so SyncMachines is ' +
        'injectable everywhere).');
    }
    const { logger, ...options } = this.options;
    const machines = this.explorer.machines();
    if (machines.length === 0) {
      throw new ConfigurationError('SyncMachineModule found no provider decorated with @SyncMachine: add your machine ' +
        'class to the `providers` of a module this application imports (with @Injectable() if it has dependencies).');
    }
    this.logger = logger ?? nestLogger();
    this.runtime = await SyncMachines.start({ ...options, logger: this.logger, machines });
    // Said like the CLI worker says it: a Nest worker started in silence, and a trial could not tell from its log
    // whether it had found the machine.
    const worker = resolveWorker(this.options.worker);
    if (worker) {
      this.logger.info(`The worker runs ${this.runtime.machineNames.join(', ')} (prefix ${resolvePrefix(this.options.prefix)}, ` +
        `concurrency ${worker.concurrency}).`);
    }
  }

  /**
   * Said like the CLI worker says it: a Nest worker stopped on SIGTERM in silence, and a deploy that waited on it
   * could not tell a graceful stop from a hang (a trial).
   */
  async beforeApplicationShutdown(signal?: string): Promise<void> {
    const worker = this.runtime && resolveWorker(this.options.worker);
    if (!worker) return;
    const began = Date.now();
    this.logger!.info(`${signal ?? 'Shutdown'}: the worker takes no new jobs and waits up to ${worker.closeTimeoutMs} ms ` +
      '(worker.closeTimeoutMs) for the runs in flight.');
    await this.runtime!.stopWorker();
    this.logger!.info(`The worker stopped after ${Date.now() - began} ms; capture stops with the application.`);
  }

  async onApplicationShutdown(signal?: string): Promise<void> {
    if (!this.runtime) return;
    await this.runtime.close();
    // Said, as a web process' shutdown was silent too (a trial): its last requests' commits were captured.
    this.logger!.info(`${signal ? `${signal}: c` : 'C'}apture stopped after the last requests, and its connections are closed.`);
  }
}

/**
 * `sync-machine/nestjs`: `SyncMachineModule.forRoot(options)` or `.forRootAsync({ imports, inject, useFactory })` in
 * the app module. Machines are ordinary `@Injectable()` providers decorated with `@SyncMachine`, in any module; the
 * started runtime is injectable as `SyncMachines`, everywhere (the module is global). A worker is the same module
 * with `worker` set, in its own application context.
 */
@Module({})
export class SyncMachineModule {
  static forRoot(options: SyncMachineModuleOptions): DynamicModule {
    return SyncMachineModule.build([], { provide: SYNC_MACHINE_OPTIONS, useValue: options });
  }

  static forRootAsync(options: SyncMachineModuleAsyncOptions): DynamicModule {
    return SyncMachineModule.build(options.imports ?? [], {
      provide: SYNC_MACHINE_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [],
    });
  }

  private static build(imports: NonNullable<DynamicModule['imports']>, optionsProvider: Provider): DynamicModule {
    return {
      module: SyncMachineModule,
      global: true,
      imports: [DiscoveryModule, ...imports],
      providers: [
        optionsProvider,
        SyncMachineExplorer,
        SyncMachinesLifecycle,
        { provide: SyncMachines, useFactory: (slot: SyncMachinesLifecycle) => runtimeHandle(slot), inject: [SyncMachinesLifecycle] },
      ],
      exports: [SyncMachines],
    };
  }
}
