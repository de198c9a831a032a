/**
 * The batches running in this process: drain() counts a run whose claims another worker took over (it stalled)
 * as still in flight, and looks again as soon as any run here ends instead of on its next poll.
 */
export class RunsInFlight {
  /** Each run, with what it is (machine, step, items) for close()'s word on runs it abandons. */
  private readonly runs = new Map<Promise<unknown>, string>();
  private waiters: Array<() => void> = [];
  /** Runs ended here so far. */
  private ends = 0;

  get size(): number {
    return this.runs.size;
  }

  get ended(): number {
    return this.ends;
  }

  /** What the runs in flight now are. */
  get described(): string[] {
    return [...this.runs.values()];
  }

  /** Counts `run` until it settles; resolves (or rejects) as it does. */
  track<T>(run: Promise<T>, what = 'a run'): Promise<T> {
    this.runs.set(run, what);
    return run.finally(() => {
      this.runs.delete(run);
      this.ends += 1;
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Resolves after `ms`, or as soon as a run here ends; at once if one ended since `ended` was `seen`. */
  nextEnd(ms: number, seen: number): Promise<void> {
    if (this.ends !== seen) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const waiters = this.waiters;
      function done(): void {
        clearTimeout(timer);
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        resolve();
      }
      waiters.push(done);
    });
  }
}
