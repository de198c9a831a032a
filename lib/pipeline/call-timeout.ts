/*
 * ctx.timeout(ms): ctx.signal that also aborts after `ms`. Node 20's AbortSignal.any([ctx.signal,
 * AbortSignal.timeout(ms)]), which the hang warning once advised, never fires once the garbage collector has taken the
 * timeout signal, which nothing else references: a trial's hung calls stayed hung for a minute with a 3 s timeout.
 * Here a timer holds the signal, and is cleared when the call returns (thousands of calls a second would otherwise
 * each keep one for `ms`).
 */

/** The timers of one hook call's ctx.timeout() signals. */
export class CallTimeouts {
  private readonly timers = new Set<NodeJS.Timeout>();
  /** When (performance.now()) the soonest timeout ends the call; undefined when the call set none, or it returned. */
  endsAt?: number;

  /** A signal aborted with `base`'s reason when it aborts, or with a TimeoutError after `ms`. */
  signal(base: AbortSignal, ms: unknown, what: string): AbortSignal {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
      throw new TypeError(`ctx.timeout(ms) for ${what}: ms must be a number of milliseconds above 0, got ` +
        `${typeof ms === 'number' ? ms : typeof ms}; e.g. fetch(url, { signal: ctx.timeout(10_000) }).`);
    }
    const timed = new AbortController();
    if (base.aborted) {
      timed.abort(base.reason);
      return timed.signal;
    }
    const onAbort = () => {
      clearTimeout(timer);
      this.timers.delete(timer);
      timed.abort(base.reason);
    };
    this.endsAt = Math.min(this.endsAt ?? Infinity, performance.now() + ms);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      base.removeEventListener('abort', onAbort);
      timed.abort(new DOMException(`${what}: the call did not return within ${ms} ms (ctx.timeout)`, 'TimeoutError'));
    }, ms);
    this.timers.add(timer);
    base.addEventListener('abort', onAbort, { once: true });
    return timed.signal;
  }

  /** The call returned: its signals no longer need to time out. */
  clear(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.endsAt = undefined;
  }
}
