import { describeError } from '../errors';
import type { StartOptions, WorkerOptions } from '../runtime/options';
import { SyncMachines } from '../runtime/sync-machines';
import { loadConfig, LoadedConfig, SyncMachineConfig } from './config';
import { CliIO, line, stderrLogger } from './io';

/** Options every command takes before or after its name. */
export interface GlobalOptions {
  config?: string;
  debug?: boolean;
}

/**
 * Loads the config, starts a runtime from it, runs `work`, then closes the runtime and calls the config's
 * `close`, whatever happened. The runtime runs workers only when `worker` returns options for it; `start`
 * replaces SyncMachines.start (the worker waits for Redis first).
 */
export async function withRuntime<T>(
  io: CliIO, globals: GlobalOptions, worker: ((config: SyncMachineConfig) => WorkerOptions) | undefined,
  work: (sync: SyncMachines, loaded: LoadedConfig) => Promise<T>,
  start: (options: StartOptions) => Promise<SyncMachines> = (options) => SyncMachines.start(options),
): Promise<T> {
  const loaded = globals.config ? await loadConfig(io.cwd, globals.config)
    : await loadConfig(io.cwd, io.env.SYNC_MACHINE_CONFIG, 'SYNC_MACHINE_CONFIG');
  const { close, ...options } = loaded.config;
  let sync: SyncMachines | undefined;
  try {
    sync = await start({ ...options, logger: options.logger ?? stderrLogger(io), worker: worker?.(loaded.config) });
    return await work(sync, loaded);
  } finally {
    await sync?.close();
    // Reported, not thrown: the command's own outcome (or error) is what counts.
    await Promise.resolve().then(close).catch((error) =>
      line(io.stderr, `sync-machine: ${loaded.file}: close() failed: ${describeError(error)}`));
  }
}
