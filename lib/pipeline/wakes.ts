import type Redis from 'ioredis';

/**
 * Wakes the idle runs of this process when work arrives. A run that ran dry lingers (stays counted as running,
 * so a new commit makes no new ticket) and waits here; a MARK that finds runs publishes on its step's channel.
 * A lost message (Redis restarting) costs at most a second: a lingering run takes again that often (worker.ts).
 */
export class Wakes {
  private readonly counts = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly unheard = new Map<string, () => void>();
  private stopped = false;

  private constructor(private readonly subscriber: Redis) {}

  /** Subscribes a connection of its own (a subscribed ioredis connection runs no other command). */
  static async start(redis: Redis, channels: string[]): Promise<Wakes> {
    const wakes = new Wakes(redis.duplicate());
    wakes.subscriber.on('error', () => undefined); // the runtime's own connection reports outages
    wakes.subscriber.on('message', (channel: string) => {
      if (!wakes.wake(channel)) wakes.unheard.get(channel)?.();
    });
    await wakes.subscriber.subscribe(...channels);
    return wakes;
  }

  /**
   * Calls `call` when Redis' wake on `channel` finds no run of this process waiting for it: the runs that took the
   * work's tickets may be elsewhere, and gone (see WorkQueue.nudge).
   */
  whenUnheard(channel: string, call: () => void): void {
    this.unheard.set(channel, call);
  }

  /** How many wakes `channel` had so far: pass it to wait() to miss none that come meanwhile. */
  seen(channel: string): number {
    return this.counts.get(channel) ?? 0;
  }

  /** Resolves at the first wake after `seen`, on stop(), or after `ms`. */
  wait(channel: string, seen: number, ms: number): Promise<void> {
    if (this.stopped || this.seen(channel) !== seen || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const set = this.waiters.get(channel) ?? new Set();
      this.waiters.set(channel, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  /** Ends every wait; the runs then end their tickets. */
  stop(): void {
    this.stopped = true;
    for (const set of this.waiters.values()) for (const done of [...set]) done();
    this.subscriber.disconnect();
  }

  /**
   * Wakes the runs waiting on `channel`: on Redis' message, and as this process itself sends requests (their take
   * follows the mark on the same connection). That message leaves Redis only once it has run every command queued
   * after the mark (a resync's next pages), which held the first run of an unchanged resync of 5,000 back by 3 ms.
   * A run woken twice takes once more, finding nothing.
   */
  wake(channel: string): boolean {
    this.counts.set(channel, this.seen(channel) + 1);
    const waiting = [...this.waiters.get(channel) ?? []];
    for (const done of waiting) done();
    return waiting.length > 0;
  }
}
