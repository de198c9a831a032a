/** A task waiting for a slot; a withdrawn one is passed over when its turn comes. */
interface Waiter {
  start(): void;
  withdraw(): void;
  /** Whether withdrawLast may take it back, and how far a call must reach for it (Withdrawable). */
  withdrawable: Withdrawable;
  withdrawn: boolean;
}

/**
 * Whether a waiting task may be withdrawn (withdrawLast): never, by any call, only by one that reaches the last
 * resort, or only by one that reaches the end (`final`: also takes back `lastResort` and `always` ones).
 */
export type Withdrawable = false | 'always' | 'lastResort' | 'final';

const REACH: Record<Exclude<Withdrawable, false>, number> = { always: 1, lastResort: 2, final: 3 };

/** What run() rejects with for a task withdrawn before its turn (withdrawLast): the task never ran. */
export class Withdrawn extends Error {
  constructor() {
    super('withdrawn before its turn');
  }
}

/** At most `size` tasks at once; the rest wait their turn in order. */
export class Semaphore {
  private running = 0;
  // A queue read from `head`: a batch queues thousands of publishes behind 50 slots, and Array#shift moves every
  // waiting entry each time (about 30 ms per 5,000 publishes, measured in a CPU profile).
  private waiting: Waiter[] = [];
  private head = 0;
  private withdrawnCount = 0;

  constructor(private readonly size: number) {}

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.waiting.length - this.head - this.withdrawnCount;
  }

  /** Runs `task` in a slot; a `withdrawable` one that still waits may be withdrawn instead (it rejects with Withdrawn). */
  async run<T>(task: () => Promise<T>, withdrawable: Withdrawable = false): Promise<T> {
    if (this.running >= this.size) {
      await new Promise<void>((resolve, reject) => {
        this.waiting.push({ start: resolve, withdraw: () => reject(new Withdrawn()), withdrawable, withdrawn: false });
      });
    } else {
      this.running += 1;
    }
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  /**
   * Withdraws up to `count` withdrawable waiting tasks, the last queued first, of those that `reach` takes back
   * (Withdrawable). Returns how many.
   */
  withdrawLast(count: number, reach: Exclude<Withdrawable, false> = 'always'): number {
    let withdrawn = 0;
    const furthest = REACH[reach];
    for (let i = this.waiting.length - 1; i >= this.head && withdrawn < count; i--) {
      const waiter = this.waiting[i];
      if (waiter.withdrawn || !waiter.withdrawable || REACH[waiter.withdrawable] > furthest) continue;
      waiter.withdrawn = true;
      this.withdrawnCount += 1;
      withdrawn += 1;
      waiter.withdraw();
    }
    return withdrawn;
  }

  /** Hands the slot to the next waiting task, or frees it. */
  private release(): void {
    while (this.head < this.waiting.length) {
      const next = this.waiting[this.head];
      this.head += 1;
      if (this.head === this.waiting.length) {
        this.waiting = [];
        this.head = 0;
      }
      if (next.withdrawn) {
        this.withdrawnCount -= 1;
        continue;
      }
      next.start();
      return;
    }
    this.running -= 1;
  }
}
