import { RetryAfter } from '../errors';
import type { WorkQueue } from './work-queue';
import { Semaphore } from './semaphore';

/** A publish that did not go because this process knows the machine is paused: nothing to log per subject. */
export class PausedHere extends RetryAfter {
  constructor(delayMs: number) {
    super(delayMs, 'publishing is paused by an earlier RetryAfter');
  }
}

/** How stale this process' knowledge of a pause started elsewhere may be. */
const PAUSE_CHECK_MS = 100;

/** `@SyncMachine({ rateLimit })`: publishes per window, across every worker. */
export interface RateLimit {
  max: number;
  perMs: number;
}

/**
 * What a publish (or unpublish) of one machine waits for in this process: a free slot (worker.concurrency at once),
 * the end of a pause a RetryAfter started here (other workers learn of it from Redis at their next take), and the
 * machine's shared rate limit.
 */
export class PublishGate {
  private readonly slots: Semaphore;
  private pausedUntil = 0;
  private checkedAt = 0;

  constructor(concurrency: number, private readonly work: WorkQueue, private readonly rateLimit?: RateLimit) {
    this.slots = new Semaphore(concurrency);
  }

  async run<T>(publish: () => Promise<T>): Promise<T> {
    return this.slots.run(async () => {
      // A pause another worker started is read from Redis, at most every PAUSE_CHECK_MS.
      if (Date.now() - this.checkedAt > PAUSE_CHECK_MS) {
        this.checkedAt = Date.now();
        const left = await this.work.pausedFor();
        if (left > 0) this.pause(left);
      }
      const left = this.pausedUntil - Date.now();
      // Thrown as the hook would have: the subject waits out the pause, uncharged.
      if (left > 0) throw new PausedHere(left);
      if (this.rateLimit) await this.work.waitForRate(this.rateLimit);
      return publish();
    });
  }

  /**
   * A hook threw RetryAfter: later publishes of this process wait too, without asking the partner API. Returns
   * whether this starts a pause here: publishes in flight when the API said so answer alike, and said it once.
   */
  pause(delayMs: number): boolean {
    const now = Date.now();
    const starts = this.pausedUntil <= now;
    this.pausedUntil = Math.max(this.pausedUntil, now + delayMs);
    return starts;
  }
}
