import { EventEmitter } from 'node:events';
import { SyncMachineError } from '../errors';
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

/** An expected failure of a command (exit code 1), reported without a stack trace. */
export class CliError extends SyncMachineError {}

export function line(stream: NodeJS.WritableStream, text = ''): void {
  stream.write(`${text}\n`);
}

/** The runtime's log lines go to stderr, so that stdout holds only the command's output (`status --json`). */
export function stderrLogger(io: CliIO): Logger {
  const write = (level: string) => (message: string) => line(io.stderr, `[sync-machine] ${level}${message}`);
  return { info: write(''), warn: write('warning: '), error: write('error: ') };
}
