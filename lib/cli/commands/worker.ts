import { Command } from 'commander';
import { resolveRedis } from '../../redis/connection';
import { describeWait, isUnreachable, pingOnce, RedisWaitAbortedError, waitForRedis } from '../../redis/wait-for-redis';
import { resolvePrefix, resolveWorker, StartOptions, WorkerOptions } from '../../runtime/options';
import { SyncMachines } from '../../runtime/sync-machines';
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
 * Starts the runtime once Redis answers: a worker booted before Redis (or during a restart) waits with backoff,
 * one stderr line per try, instead of exiting. Redis going away again during the start means waiting again;
 * any other failure (a wrong password, a bad machine) is reported as it is.
 */
async function startWhenRedisAnswers(io: CliIO, options: StartOptions, signal: AbortSignal): Promise<SyncMachines> {
  const settings = resolveRedis(options.redis);
  for (;;) {
    let waited = false;
    await waitForRedis(settings, {
      signal, prefix: resolvePrefix(options.prefix),
      onWait: (info) => {
        waited = true;
        line(io.stderr, `sync-machine worker: ${describeWait(settings, info)}`);
      },
    });
    if (waited) line(io.stderr, `sync-machine worker: Redis at ${settings.describe} answers; starting.`);
    try {
      return await SyncMachines.start(options);
    } catch (error) {
      if (signal.aborted) throw new RedisWaitAbortedError('stopped while starting');
      const down = await pingOnce(settings).then(() => false, (e: unknown) => isUnreachable(e));
      if (!down) throw error;
    }
  }
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
  const abort = new AbortController(); // ends a wait for Redis at boot
  const onSignal = (signal: string) => {
    if (stopSignal) {
      line(io.stderr, `sync-machine worker: second ${signal}: exiting without waiting for running jobs.`);
      process.exit(1);
    }
    stopSignal = signal;
    abort.abort();
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
    }, (startOptions) => startWhenRedisAnswers(io, startOptions, abort.signal));
    line(io.stdout, 'sync-machine worker: stopped.');
  } catch (error) {
    if (!(error instanceof RedisWaitAbortedError)) throw error;
    line(io.stdout, `sync-machine worker: ${stopSignal} while waiting for Redis: stopped.`);
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
