import { Command, CommanderError } from 'commander';
import { describeError, SyncMachineError } from '../errors';
import { diffCommand } from './commands/diff';
import { drainCommand } from './commands/drain';
import { generateCommand } from './commands/generate';
import { resyncCommand } from './commands/resync';
import { retryFailedCommand } from './commands/retry-failed';
import { statusCommand } from './commands/status';
import { workerCommand } from './commands/worker';
import { CliIO, line, UsageError } from './io';
import type { GlobalOptions } from './session';

/** Exit codes: 0 done, 1 the command failed, 2 the command line is wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

function version(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('sync-machine/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function buildProgram(io: CliIO): Command {
  const program = new Command('sync-machine')
    .description('Tools for sync-machine apps: generate machines, run workers, resync, status, retry failed jobs, diff, drain.\n' +
      'Every command but generate reads sync-machine.config.js in the working directory (or --config <file>).')
    .version(version(), '-V, --version')
    .option('-c, --config <file>', 'the config file (default: sync-machine.config.js, or $SYNC_MACHINE_CONFIG)')
    .option('--debug', 'print stack traces of errors')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(run with --help for usage)');
  const globals = () => program.opts<GlobalOptions>();
  generateCommand(program, io);
  workerCommand(program, io, globals);
  resyncCommand(program, io, globals);
  statusCommand(program, io, globals);
  retryFailedCommand(program, io, globals);
  diffCommand(program, io, globals);
  drainCommand(program, io, globals);
  return program;
}

/** Runs the command line `argv` (without node and script); resolves the exit code. Never throws. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed its message (or the help / version).
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
      return EXIT.usage;
    }
    if (program.opts<GlobalOptions>().debug) {
      line(io.stderr, `sync-machine: ${error instanceof Error ? error.stack : String(error)}`);
      // And what caused it: a config that failed to load showed only this CLI's own frames (a trial).
      for (let cause = (error as Error).cause, depth = 0; cause !== undefined && depth < 5; cause = (cause as Error).cause, depth += 1) {
        line(io.stderr, `Caused by: ${cause instanceof Error ? cause.stack : String(cause)}`);
      }
    } else if (error instanceof SyncMachineError) {
      line(io.stderr, `sync-machine: ${error.message}`);
    } else {
      // Not one of ours (a database error, a bug): the message, and where to find more.
      line(io.stderr, `sync-machine: ${describeError(error)} (--debug prints the stack trace)`);
    }
    return error instanceof UsageError ? EXIT.usage : EXIT.failed;
  }
}
