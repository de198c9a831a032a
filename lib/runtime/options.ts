import { ConfigurationError, shownValue } from '../errors';
import { refuseUnknownOptions } from '../known-options';
import { consoleLogger, Logger } from '../logger';
import type { RedisInput } from '../redis/connection';

export interface RetryPolicy {
  /** Runs in all, the first included. */
  attempts: number;
  /** Delay before the first retry; doubles each time. */
  initialDelayMs: number;
}

export interface WorkerOptions {
  /**
   * Subjects worked on at once per machine in this process: publishes in flight at most, across its runs (each
   * run carries a batch; ceil(concurrency / batchSize) + 3 runs go at once per step, the extra ones loading while
   * the others publish). Default 10.
   */
  concurrency?: number;
  /** Exponential backoff for failed runs. Default 8 attempts from 1000 ms. */
  retry?: Partial<RetryPolicy>;
  /** Subject lock time-to-live, extended while a run goes on. Default 30 s. */
  lockTtlMs?: number;
  /** How long close() waits for running jobs. Default 30 s. */
  closeTimeoutMs?: number;
  /** A job whose worker stops renewing it for this long (the process died) is run again. Default 5 s. */
  stallIntervalMs?: number;
}

export interface StartOptions {
  /** An initialized TypeORM DataSource or a MikroORM instance (the adapter is picked from it). */
  orm: unknown;
  redis: RedisInput;
  /** Instances, or classes with a zero-argument constructor, decorated with @SyncMachine. */
  machines: unknown[];
  /** Omit or false in processes that only capture changes. */
  worker?: WorkerOptions | false;
  /** Redis key prefix, so several apps or test runs share one Redis. Default 'sync-machine'. */
  prefix?: string;
  logger?: Logger;
  /**
   * 'direct' (default): changes go to Redis after commit; while Redis is down they are logged as dropped.
   * 'outbox': each change is also written to `sync_machine_outbox` in the write's own transaction, and a relay in
   * every runtime moves the rows to Redis (after each commit, and by polling): nothing is lost while Redis is down.
   */
  capture?: 'direct' | 'outbox';
  /** capture 'outbox': how often the relay looks for rows left by an outage or another process. Default 1000 ms. */
  outboxPollMs?: number;
  /**
   * capture 'direct': how long a write waits for Redis to answer its changes' enqueue (per 5,000 changes) when Redis
   * stops answering on an open connection (a stopped process, a network that drops packets). Past it, those changes
   * are logged as not enqueued, and later writes wait for nothing until Redis answers again. Default 2000 ms.
   */
  captureTimeoutMs?: number;
}

/** Every key StartOptions has: an unknown one is refused at start (see refuseUnknownOptions). */
export const START_OPTIONS: ReadonlyArray<keyof StartOptions> = ['orm', 'redis', 'machines', 'worker', 'prefix', 'logger', 'capture', 'outboxPollMs', 'captureTimeoutMs'];
const WORKER_OPTIONS: ReadonlyArray<keyof WorkerOptions> = ['concurrency', 'retry', 'lockTtlMs', 'closeTimeoutMs', 'stallIntervalMs'];
const RETRY_OPTIONS: ReadonlyArray<keyof RetryPolicy> = ['attempts', 'initialDelayMs'];

/** The start options' own keys, before anything reads them. */
export function checkStartOptions(options: object): void {
  refuseUnknownOptions(options, START_OPTIONS, 'SyncMachines.start');
}

export interface ResolvedWorker {
  concurrency: number;
  retry: RetryPolicy;
  lockTtlMs: number;
  closeTimeoutMs: number;
  stallIntervalMs: number;
}

export function resolveWorker(worker: StartOptions['worker']): ResolvedWorker | undefined {
  if (worker === undefined || worker === false) return undefined;
  if (typeof worker !== 'object' || worker === null) {
    throw new ConfigurationError('worker must be an object such as { concurrency: 20 }, or false.');
  }
  refuseUnknownOptions(worker, WORKER_OPTIONS, 'SyncMachines.start({ worker })');
  if (worker.retry !== undefined) {
    if (typeof worker.retry !== 'object' || worker.retry === null) {
      throw new ConfigurationError(`worker.retry must be an object such as { attempts: 8, initialDelayMs: 1000 }, got ${shownValue(worker.retry)}.`);
    }
    refuseUnknownOptions(worker.retry, RETRY_OPTIONS, 'SyncMachines.start({ worker: { retry } })');
  }
  const resolved = {
    concurrency: worker.concurrency ?? 10,
    retry: { attempts: worker.retry?.attempts ?? 8, initialDelayMs: worker.retry?.initialDelayMs ?? 1000 },
    lockTtlMs: worker.lockTtlMs ?? 30_000,
    closeTimeoutMs: worker.closeTimeoutMs ?? 30_000,
    stallIntervalMs: worker.stallIntervalMs ?? 5_000,
  };
  const positive: Array<[string, number]> = [
    ['worker.concurrency', resolved.concurrency], ['worker.retry.attempts', resolved.retry.attempts],
    ['worker.lockTtlMs', resolved.lockTtlMs], ['worker.stallIntervalMs', resolved.stallIntervalMs],
  ];
  for (const [name, value] of positive) {
    if (!Number.isInteger(value) || value < 1) throw new ConfigurationError(`${name} must be a whole number of at least 1, got ${shownValue(value)}.`);
  }
  if (resolved.lockTtlMs <= resolved.stallIntervalMs) {
    // Bee-Queue hands a ticket whose worker looks stalled to another worker after stallIntervalMs: a lock that
    // expires first lets the two runs overlap on the same subjects.
    throw new ConfigurationError(`worker.lockTtlMs (${resolved.lockTtlMs}) must be greater than worker.stallIntervalMs ` +
      `(${resolved.stallIntervalMs}): a subject lock must outlive the stall check that hands a blocked run to another ` +
      `worker. Raise lockTtlMs (default 30000) or lower stallIntervalMs (default 5000).`);
  }
  if (!Number.isInteger(resolved.closeTimeoutMs) || resolved.closeTimeoutMs < 0) {
    throw new ConfigurationError(`worker.closeTimeoutMs must be a whole number of milliseconds, 0 or more, got ${shownValue(resolved.closeTimeoutMs)}.`);
  }
  const delay: unknown = resolved.retry.initialDelayMs;
  if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
    throw new ConfigurationError(`worker.retry.initialDelayMs must be a number of milliseconds, 0 or more, got ${shownValue(resolved.retry.initialDelayMs)}.`);
  }
  return resolved;
}

export function resolvePrefix(prefix: string | undefined): string {
  const value = prefix ?? 'sync-machine';
  if (typeof value !== 'string' || value === '') {
    throw new ConfigurationError(`prefix must be a non-empty string, such as 'my-app' (every Redis key starts with it), ` +
      `got ${value === '' ? 'an empty string' : shownValue(value)}; omit it for 'sync-machine'.`);
  }
  if (!/^[A-Za-z0-9_.:-]+$/.test(value)) {
    throw new ConfigurationError(`prefix "${value}" may only use letters, digits and "_", ".", ":", "-".`);
  }
  return value;
}

/**
 * Refused at start when it cannot log: a logger without `error` was found only when a hook failed, and its
 * TypeError took the place of the hook's error in the failure record.
 */
export function resolveLogger(logger: Logger | undefined): Logger {
  if (logger === undefined) return consoleLogger;
  const methods = ['info', 'warn', 'error'] as const;
  const lacking = logger === null || (typeof logger !== 'object' && typeof logger !== 'function') ? [...methods]
    : methods.filter((m) => typeof (logger as unknown as Record<string, unknown>)[m] !== 'function');
  if (lacking.length > 0) {
    throw new ConfigurationError(`logger must have info, warn and error methods (console, pino and winston loggers do); ` +
      `${typeof logger === 'object' && logger !== null ? `it lacks ${lacking.join(', ')}` : `got ${shownValue(logger)}`}. ` +
      'Omit it to log to the console.');
  }
  return logger;
}

export interface ResolvedCapture {
  mode: 'direct' | 'outbox';
  pollMs: number;
  timeoutMs: number;
}

export function resolveCapture(
  capture: StartOptions['capture'], pollMs: StartOptions['outboxPollMs'], timeoutMs: StartOptions['captureTimeoutMs'],
): ResolvedCapture {
  const mode = capture ?? 'direct';
  if (mode !== 'direct' && mode !== 'outbox') {
    throw new ConfigurationError(`capture must be 'direct' or 'outbox', got ${JSON.stringify(capture)}.`);
  }
  const poll = pollMs ?? 1000;
  if (!Number.isInteger(poll) || poll < 10) throw new ConfigurationError(`outboxPollMs must be a whole number of at least 10, got ${shownValue(poll)}.`);
  const timeout = timeoutMs ?? 2000;
  if (!Number.isInteger(timeout) || timeout < 1) {
    throw new ConfigurationError(`captureTimeoutMs must be a whole number of milliseconds, 1 or more, got ${shownValue(timeout)}.`);
  }
  return { mode, pollMs: poll, timeoutMs: timeout };
}
