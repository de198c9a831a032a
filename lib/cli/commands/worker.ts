import { Command } from 'commander';
import { resolvePrefix, resolveWorker, WorkerOptions } from '../../runtime/options';
import type { SyncMachineConfig } from '../config';
import { CliIO, line } from '../io';
import { GlobalOptions, withRuntime } from '../session';
import { positiveInteger } from './parse';

const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** The config's `worker` options (absent or false: the defaults), with the command line's overrides. */
function workerOptions(config: SyncMachineConfig, concurrency: number | undefined): WorkerOptions {
  const base = config.worker || {};
  return concurrency === undefined ? base : { ...base, concurrency };
}

/**
 * Runs workers until SIGTERM or SIGINT, then stops gracefully: no new jobs, running ones finish (up to
 * `worker.closeTimeoutMs`), locks released, connections closed. A second signal exits at once.
 */
export async function runWorker(io: CliIO, globals: GlobalOptions, options: { concurrency?: number }): Promise<void> {
  // Listening from the start: a signal during start-up must stop the worker, not kill it half-started.
  let stopSignal: string | undefined;
  let wake = () => {};
  const stopped = new Promise<void>((resolve) => { wake = resolve; });
  const onSignal = (signal: string) => {
    if (stopSignal) {
      line(io.stderr, `sync-machine worker: second ${signal}: exiting without waiting for running jobs.`);
      process.exit(1);
    }
    stopSignal = signal;
    wake();
  };
  for (const signal of STOP_SIGNALS) io.signals.on(signal, onSignal);
  try {
    let closeTimeoutMs = 0;
    await withRuntime(io, globals, (config) => {
      const worker = workerOptions(config, options.concurrency);
      closeTimeoutMs = resolveWorker(worker)!.closeTimeoutMs;
      return worker;
    }, async (sync, { file, config }) => {
      line(io.stdout, `sync-machine worker: running ${sync.machineNames.join(', ')} (prefix ${resolvePrefix(config.prefix)}, ` +
        `config ${file}); SIGTERM or SIGINT stops it.`);
      await stopped;
      line(io.stdout, `sync-machine worker: ${stopSignal}: taking no new jobs, waiting up to ${closeTimeoutMs} ms for running ones.`);
    });
    line(io.stdout, 'sync-machine worker: stopped.');
  } finally {
    for (const signal of STOP_SIGNALS) io.signals.off(signal, onSignal);
  }
}

export function workerCommand(program: Command, io: CliIO, globals: () => GlobalOptions): Command {
  return program.command('worker')
    .summary('run the machines\' jobs until SIGTERM or SIGINT')
    .description('Starts the machines of the config with its `worker` options and runs their FindSubjects and ' +
      'EnsurePublication jobs. SIGTERM or SIGINT stops it gracefully: no new jobs, running ones finish (up to ' +
      'worker.closeTimeoutMs), locks are released, connections closed, exit code 0. A second signal exits at once.')
    .option('--concurrency <n>', 'jobs run at once per queue (default: the config\'s worker.concurrency, else 10)', positiveInteger)
    .action((options: { concurrency?: number }) => runWorker(io, globals(), options));
}
