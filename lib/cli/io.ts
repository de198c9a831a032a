import { EventEmitter } from 'node:events';
import { ConfigurationError, SyncMachineError } from '../errors';
import { SubjectIdsError } from '../runtime/subject-ids';
import type { Logger } from '../logger';

/** Where a command reads and writes: the process, or a test's buffers. */
export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Emits 'SIGTERM' and 'SIGINT': what stops a worker. */
  signals: EventEmitter;
}

export function processIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd(), env: process.env, signals: process };
}

/** The command line is wrong (exit code 2); the message says how to fix it. */
export class UsageError extends SyncMachineError {}

/**
 * A call made from command-line arguments (`--ids 1,x`, a `--where` column the entity lacks): the runtime refuses
 * it with a ConfigurationError, which here means the command line is wrong.
 */
export async function asUsage<T>(call: Promise<T>, idsFrom?: string): Promise<T> {
  try {
    return await call;
  } catch (error) {
    // Ids the command line gave: said of its option, not of the API call the command made with them.
    if (error instanceof SubjectIdsError && idsFrom) {
      throw new UsageError(`${idsFrom}: ${error.problem} Nothing was done: fix ${error.count === 1 ? 'it' : 'them'} and run the command again.`, { cause: error });
    }
    if (error instanceof ConfigurationError) throw new UsageError(error.message, { cause: error });
    throw error;
  }
}

/** An expected failure of a command (exit code 1), reported without a stack trace. */
export class CliError extends SyncMachineError {}

/**
 * `sync-machine status | head`: the reader may close the pipe while the command still writes. What is left to
 * print has nobody to read it, so writes stop quietly (no EPIPE crash, no stack trace) and the command ends as it
 * would have: a worker still stops gracefully, a status still closes its connections, and the exit code is its own.
 */
export function quietWhenReaderLeaves(stream: NodeJS.WritableStream & { destroyed?: boolean; destroy?: () => void }): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    stream.destroy?.();
  });
}

export function line(stream: NodeJS.WritableStream & { destroyed?: boolean }, text = ''): void {
  if (stream.destroyed) return; // the reader went away (see quietWhenReaderLeaves)
  stream.write(`${text}\n`);
}

/** The runtime's log lines go to stderr, so that stdout holds only the command's output (`status --json`). */
export function stderrLogger(io: CliIO): Logger {
  const write = (level: string) => (message: string) => line(io.stderr, `[sync-machine] ${level}${message}`);
  return { info: write(''), warn: write('warning: '), error: write('error: ') };
}
