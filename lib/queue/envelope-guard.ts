import BeeQueue from 'bee-queue';
import { InvalidJobError } from '../errors';
import { envelopeProblem, failedEnvelopeJson } from './bee-queue-storage';

/*
 * Bee-Queue 2.0.0 takes a job by moving its id from `waiting` to `active` (BRPOPLPUSH), then reads and
 * JSON.parses its hash entry (`Job.fromData`: "no need for try-catch here since we made the JSON ourselves").
 * A corrupt entry makes that throw, an entry that is missing makes it skip the job: either way the id stays in
 * `active`, the stall check moves it back to `waiting`, and it is taken again every stall interval, forever,
 * logged (if at all) without its id. This guard replaces Bee-Queue's `_waitForJob` with the same loop plus a
 * check of the envelope: a corrupt one is moved to the failed set, with an error that names the queue, the job
 * id and what was wrong, and the loop waits for the next job. Written against bee-queue 2.0.0 (pinned exactly).
 */

/** Emitted on the queue (with an InvalidJobError) when a corrupt job was moved to the failed set. */
export const CORRUPT_JOB_EVENT = 'sync-machine:corrupt-job';
/** Emitted on the queue (with a message) when a job taken had already ended elsewhere and was dropped. */
export const ENDED_JOB_EVENT = 'sync-machine:ended-job';

type Callback = (error: Error | null, value?: unknown) => void;
interface Multi {
  lrem(key: string, count: number, value: string): Multi;
  srem(key: string, value: string): Multi;
  hset(key: string, field: string, value: string): Multi;
  sadd(key: string, value: string): Multi;
  exec(done: Callback): void;
}

/** The parts of Bee-Queue's Queue this module relies on (private API of 2.0.0). */
interface QueueInternals extends BeeQueue {
  bclient: { brpoplpush(from: string, to: string, timeout: number, done: Callback): void };
  client: { hget(key: string, field: string, done: Callback): void; multi(): Multi };
  paused: boolean;
  settings: { initialRedisFailureRetryDelay: number; keyPrefix: string };
  _redisFailureRetryDelay: number;
  toKey(suffix: string): string;
  _waitForJob(): Promise<BeeQueue.Job<unknown> | null>;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const Job: { fromData(queue: unknown, id: string, raw: string): BeeQueue.Job<unknown> } = require('bee-queue/lib/job');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const redisHelpers: { isAbortError(error: unknown): boolean } = require('bee-queue/lib/redis');

const INSTALLED = Symbol.for('sync-machine:bee-queue-envelope-guard');

function callAsync<T>(run: (done: Callback) => void): Promise<T> {
  return new Promise((resolve, reject) => run((error, value) => (error ? reject(error) : resolve(value as T))));
}

/** Makes every Bee-Queue queue of this process fail corrupt jobs once instead of re-running them. Idempotent. */
export function installEnvelopeGuard(Queue: typeof BeeQueue = BeeQueue): void {
  const proto = Queue.prototype as unknown as QueueInternals & Record<symbol, boolean>;
  if (proto[INSTALLED]) return;
  if (typeof proto._waitForJob !== 'function') {
    throw new Error('sync-machine: this bee-queue has no Queue#_waitForJob; the envelope guard needs bee-queue 2.0.0.');
  }

  proto._waitForJob = function guardedWaitForJob(this: QueueInternals): Promise<BeeQueue.Job<unknown> | null> {
    return callAsync<string>((done) => this.bclient.brpoplpush(this.toKey('waiting'), this.toKey('active'), 0, done)).then(
      async (jobId) => {
        const raw = await callAsync<string | null>((done) => this.client.hget(this.toKey('jobs'), jobId, done));
        if (raw === null) {
          await dropEndedJob(this, jobId);
          return this.paused ? null : this._waitForJob();
        }
        const problem = envelopeProblem(raw);
        if (problem === undefined) return Job.fromData(this, jobId, raw);
        await failCorruptJob(this, jobId, raw, problem);
        return this.paused ? null : this._waitForJob();
      },
      (error: unknown) => {
        // As Bee-Queue's own loop: a closing queue aborts the blocking pop; anything else is retried with backoff.
        if (redisHelpers.isAbortError(error) && this.paused) return null;
        this.emit('error', error as Error);
        this._redisFailureRetryDelay = this._redisFailureRetryDelay
          ? this._redisFailureRetryDelay * 2 : this.settings.initialRedisFailureRetryDelay;
        return new Promise((resolve) => setTimeout(resolve, this._redisFailureRetryDelay)).then(() => this._waitForJob());
      },
    );
  };

  Object.defineProperty(proto, INSTALLED, { value: true });
}

/**
 * A job whose hash entry is gone has ended: a stopped worker (SIGSTOP, a VM pause) is still served the blocking
 * pop it had sent, so it takes a job while it cannot run it; the stall check hands the job to another worker,
 * which runs it and removes it (removeOnSuccess); then the stopped worker continues and reads nothing. A ticket
 * carries no work (that waits in `pending`), so there is nothing to run or to fail: it leaves `active` quietly.
 */
async function dropEndedJob(queue: QueueInternals, jobId: string): Promise<void> {
  await callAsync((done) => queue.client.multi()
    .lrem(queue.toKey('active'), 0, jobId)
    .srem(queue.toKey('stalling'), jobId)
    .exec(done));
  queue.emit(ENDED_JOB_EVENT, `Job ${jobId} in ${queue.settings.keyPrefix.replace(/:$/, '')} was taken after it had ended ` +
    '(its worker was stopped, or lost its connection to Redis, while another worker ran it); nothing to run, dropped.');
}

/** Moves a corrupt job from `active` to the failed set with a readable envelope, and says so once. */
async function failCorruptJob(queue: QueueInternals, jobId: string, raw: string, problem: string): Promise<void> {
  const shown = `: ${raw.slice(0, 200)}`;
  const error = new InvalidJobError(`Job ${jobId} in ${queue.settings.keyPrefix.replace(/:$/, '')} is corrupt (${problem})${shown}. ` +
    'It was not run and stays in the failed set. Jobs are written by sync-machine itself; enqueue work with ' +
    'notifyChanged() or resync() instead of writing to its queues.');
  await callAsync((done) => queue.client.multi()
    .lrem(queue.toKey('active'), 0, jobId)
    .srem(queue.toKey('stalling'), jobId)
    .hset(queue.toKey('jobs'), jobId, failedEnvelopeJson(raw, error.message))
    .sadd(queue.toKey('failed'), jobId)
    .exec(done));
  queue.emit(CORRUPT_JOB_EVENT, error);
}
