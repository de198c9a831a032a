import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { LockLostError, LockLostWhilePublishingError, SyncMachineError } from '../errors';
import { lossesFound } from '../redis/data-loss';
import type { WorkQueue } from './work-queue';

/**
 * Random bytes of a lock token, after the worker's id (a UUID, 36 characters): with them a lock
 * (`<token>|<expires-at>`, lib/redis/keys.ts) is longer than 64 bytes, Redis' default hash-max-listpack-value, so the
 * locks hash is a hash table from its first lock. With 6 random bytes alone Redis kept a machine's locks as a
 * listpack while they were 512 or fewer (one worker's batches), where it finds each field by a linear scan: the take
 * that locked a batch of 500 and its finish cost 1.6 and 1.2 ms of Redis time, against 0.9 and 0.5 ms as a hash
 * table (dist/bench/profile/lock-encoding.js).
 */
const LOCK_TOKEN_BYTES = 8;

/**
 * A run's id, and its lock token when it locks (TicketRun): `<ticket>:<worker>.<random>`. The ticket id leads it, so
 * a lock or claim in Redis names the ticket that holds it; a re-run of the same ticket does not take a lock over (the
 * earlier run may be stopped, not dead: take.lua waits for its expiry). The worker's id is its entry on the rolls of
 * live workers (worker-roll.ts): status and drain() tell a run whose worker is gone from one that is only slow.
 */
export function lockToken(ticket: string, worker: string): string {
  return `${ticket}:${worker}.${randomBytes(LOCK_TOKEN_BYTES).toString('hex')}`;
}

/** The worker whose run a claim or lock names (lockToken); undefined for a run id of another form (an older version's). */
export function runWorker(run: string): string | undefined {
  const colon = run.indexOf(':');
  const dot = run.indexOf('.', colon + 1);
  return colon >= 0 && dot > colon + 1 ? run.slice(colon + 1, dot) : undefined;
}

/** How long, and how often, a lock is asked about after a publish while Redis does not answer (confirm). */
const CONFIRM_RETRY_MS = 60_000;
const CONFIRM_BACKOFF_MS = { first: 100, max: 2_000 };

/**
 * The subject locks one run holds for its batch (taken with the batch, in one script). A timer extends them all
 * at once; and since a timer cannot run while a hook blocks the event loop, `ensure` checks a lock's validity
 * on the monotonic clock right before a publish, and asks Redis when that is not certain. Between that check and
 * the next, the user's code runs: its `ctx.signal` is aborted once the lock can no longer be proven held (see
 * `during`), so a process stopped inside @Publish does not send an older payload after another run's newer one.
 */
export class BatchLocks {
  private readonly validUntil = new Map<string, number>();
  private readonly lost = new Set<string>();
  /** The publishes (and unpublishes) of this batch whose hooks run now: their ctx.signal, and how logs name the subject. */
  private readonly calls = new Map<string, { abort: AbortController; what: string }>();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** Data losses this process had found when the locks were taken (lossesFound). */
  private losses = lossesFound();
  /** A loss was found since the take: a lock found lost went with Redis' data, not to a run after its expiry. */
  private afterLoss = false;

  /**
   * `since`: performance.now() before the take was sent, so validity is never overestimated. `closed`: the
   * runtime's connections are gone (close() abandoned the batch), so the timer stops extending.
   */
  constructor(
    readonly work: WorkQueue, readonly token: string, private readonly ttlMs: number, items: string[], since: number,
    private readonly closed: () => boolean,
  ) {
    for (const item of items) this.validUntil.set(item, since + ttlMs);
    this.arm();
  }

  /** Throws LockLostError unless the lock on `item` is provably still this run's. */
  async ensure(item: string): Promise<void> {
    if (!this.lost.has(item) && this.validNow(item)) return;
    if (!this.lost.has(item)) await this.extend([item]);
    if (this.lost.has(item)) {
      throw new LockLostError(this.afterLoss ? `the lock on ${item} went with the data Redis lost`
        : `the lock on ${item} was taken over after it expired`);
    }
  }

  /**
   * Right after a publish returned: throws LockLostWhilePublishingError unless the lock on `item` was this run's
   * all along. Validity on the monotonic clock proves it (nobody can take a lock before it expires); past that,
   * extending with our token succeeds only if nobody took it meanwhile. A Redis that does not answer is asked again,
   * with backoff, for up to CONFIRM_RETRY_MS: the partner has taken the call, and a run that failed at Redis' first
   * error left it unstored (a trial's outage: 15 publishes, sent again later under the versions they had).
   */
  async confirm(item: string): Promise<void> {
    const deadline = performance.now() + CONFIRM_RETRY_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ensure(item);
        return;
      } catch (error) {
        if (error instanceof LockLostError) throw new LockLostWhilePublishingError('the lock was lost while publishing', { cause: error });
        const waitMs = Math.min(CONFIRM_BACKOFF_MS.max, CONFIRM_BACKOFF_MS.first * 2 ** (attempt - 1));
        if (this.closed() || performance.now() + waitMs >= deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }
  }

  /**
   * Of these items, the ones whose lock is no longer provably this run's (taken over after it expired), asking
   * Redis once for all that the monotonic clock cannot vouch for. A lock still ours now was ours since the take.
   */
  async lostOf(items: string[]): Promise<Set<string>> {
    const unsure = items.filter((item) => !this.lost.has(item) && !this.validNow(item));
    if (unsure.length > 0) await this.extend(unsure);
    return new Set(items.filter((item) => this.lost.has(item)));
  }

  /**
   * `ctx.signal` of a call on `item` ("Order 5" in `what`): aborted first if the lock can no longer be proven
   * held on the monotonic clock. A getter reads it right before the request goes out (`fetch(url, { signal:
   * ctx.signal })`), so a hook that resumes after a stall, before this run's timer does, sends nothing stale.
   */
  signal(item: string, abort: AbortController, what: string): AbortSignal {
    if (!abort.signal.aborted) {
      if (this.closed()) abort.abort(closedReason(what));
      else if (this.lost.has(item) || !this.validNow(item)) abort.abort(lockReason(what, this.afterLoss));
    }
    return abort.signal;
  }

  /**
   * Runs the hook call on `item`, aborting `abort` if its lock is lost meanwhile (by the timer, or an extend that
   * finds it taken). A call that fails after that is a lock lost while publishing (LockLostWhilePublishingError:
   * nothing stored, a forced re-run), not a call of unknown outcome to retry with backoff.
   */
  async during<T>(item: string, abort: AbortController, what: string, call: () => Promise<T>): Promise<T> {
    this.calls.set(item, { abort, what });
    try {
      return await call();
    } catch (error) {
      if (!(abort.signal.reason instanceof LockLostError)) throw error;
      throw new LockLostWhilePublishingError('the lock could not be proven held while publishing, so ctx.signal aborted the call',
        { cause: error });
    } finally {
      if (this.calls.get(item)?.abort === abort) this.calls.delete(item);
    }
  }

  /** Stops extending these items' locks: a release of part of the batch let them go (work-queue.ts). */
  release(items: string[]): void {
    for (const item of items) this.validUntil.delete(item);
  }

  /** Stops extending; FINISH releases the locks. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private validNow(item: string): boolean {
    // Redis lost its data since: the locks went with it, and another run may hold them now, though their time is not
    // up. A trial's run sent an order's payload of before a change 4 s after the loss was found, after the newer
    // run's: asked again (extend), a lock proves itself held or is lost, and its subject is not sent.
    if (lossesFound() !== this.losses) {
      this.losses = lossesFound();
      this.afterLoss = true;
      for (const held of this.validUntil.keys()) this.validUntil.set(held, 0);
    }
    return performance.now() < (this.validUntil.get(item) ?? 0) - this.margin();
  }

  private margin(): number {
    return Math.min(1000, this.ttlMs / 5);
  }

  private arm(): void {
    this.timer = setTimeout(() => {
      if (this.closed()) {
        for (const { abort, what } of this.calls.values()) abort.abort(closedReason(what));
        return;
      }
      // Before the extend is sent: after a stop, this runs before its answer, and often before the hook's own timer.
      for (const [item, { abort, what }] of this.calls) if (!this.validNow(item)) abort.abort(lockReason(what, this.afterLoss));
      const held = [...this.validUntil.keys()].filter((item) => !this.lost.has(item));
      this.extend(held).catch(() => undefined).finally(() => { if (!this.stopped) this.arm(); });
    }, Math.max(10, this.ttlMs / 3));
    this.timer.unref();
  }

  private async extend(items: string[]): Promise<void> {
    const since = performance.now();
    const lost = new Set(await this.work.extend(this.token, this.ttlMs, items));
    for (const item of items) {
      if (lost.has(item)) {
        this.lost.add(item);
        const call = this.calls.get(item);
        call?.abort.abort(lockReason(call.what, this.afterLoss));
      } else this.validUntil.set(item, since + this.ttlMs);
    }
  }
}

/** Why ctx.signal was aborted: the lock is not provably this run's, so another run may publish meanwhile. */
function lockReason(what: string, afterLoss: boolean): LockLostError {
  if (afterLoss) return new LockLostError(`the lock on ${what} went with the data Redis lost, so ctx.signal aborted its call`);
  return new LockLostError(`the lock on ${what} could not be proven held (taken over after a stall longer than ` +
    'worker.lockTtlMs?), so ctx.signal aborted its call');
}

/** Why ctx.signal was aborted when close() gave up on the run: its locks are no longer extended. */
function closedReason(what: string): SyncMachineError {
  return new SyncMachineError(`close() gave up on the run of ${what} (worker.closeTimeoutMs), so ctx.signal aborted its call`);
}
