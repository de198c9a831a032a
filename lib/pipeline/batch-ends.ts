import { describeError } from '../errors';
import type { ItemResult, TakenItem } from './work-queue';

/**
 * How long a batch runs before it lets go of the items that ended, and how often it does again after. FINISH
 * lets go of a whole batch at its end, and a running ticket stands in for the tickets that new work needs: so one
 * publish that never returned (a partner API that does not answer, on a socket without a timeout) held every
 * other subject of its batch locked, and, with no other ticket running, every later change of the machine on
 * every worker.
 */
export const RELEASE_EVERY_MS = 1_000;

/**
 * The results of one batch as its items end. Every RELEASE_EVERY_MS while the batch runs, `release` gets those
 * that ended since; its first call, even with none, tells Redis that the ticket is busy (finish.lua). A release
 * that fails leaves its results to FINISH.
 */
export class BatchEnds {
  private readonly ended: ItemResult[] = [];
  private releasing?: Promise<void>;
  private busy = false;
  private readonly timer: NodeJS.Timeout;
  private readonly started = performance.now();
  /** Items whose run has not ended (from reading(), or once rest() has them). */
  private readonly running = new Set<string>();
  /** When to tell of slow items next (ms since the start), and the items told as hung so far (not told again). */
  private nextTellMs?: number;
  private readonly told = new Set<string>();
  private telling = false;
  private nudged = false;
  private stopped = false;

  /**
   * `closed`: the runtime's connections are gone (close() abandoned the batch), so releases stop. `slow`: told once,
   * with the items still running, when the batch has run `slow.afterMs` (a hook that never returns is otherwise
   * silent: its subject stays locked and its later changes wait, with nothing in the log).
   */
  constructor(
    private readonly release: (ended: ItemResult[]) => Promise<void>, private readonly closed: () => boolean,
    private readonly slow?: SlowTell, everyMs = RELEASE_EVERY_MS,
  ) {
    this.timer = setInterval(() => this.tick(), everyMs);
    this.timer.unref();
  }

  /**
   * The batch's items, before its reads have returned: they count as running (for `slow`) from the take, not only
   * once rest() has them, so that a read that does not return is told too.
   */
  reading(items: string[]): void {
    for (const item of items) this.running.add(item);
  }

  /** Once every item has ended: the results that no release took (in any order), for FINISH. */
  async rest(items: TakenItem[], results: Array<ItemResult | Promise<ItemResult>>): Promise<ItemResult[]> {
    const waits: Array<Promise<void>> = [];
    for (let i = 0; i < results.length; i++) {
      const result = results[i];
      if (Array.isArray(result)) {
        this.running.delete(items[i].item);
        this.ended.push(result);
        continue;
      }
      const item = items[i].item;
      this.running.add(item);
      // An item's run turns its failures into its result; a rejection here is a defect, and fails that item alone.
      waits.push(result.then((r) => {
        this.running.delete(item);
        this.ended.push(r);
        // Handed back for another worker (publish-gate.ts): let go of it now rather than at the next tick.
        if (r[1] === 'spilled') this.soon();
      }, (error: unknown) => {
        this.running.delete(item);
        this.ended.push([item, 'failed', describeError(error)]);
      }));
    }
    if (waits.length > 0) await Promise.all(waits);
    await this.stop();
    return this.ended;
  }

  /** No more releases; resolves once one under way has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.releasing;
  }

  /** A tick on the next turn of the event loop (the items ending in this one go together). */
  private soon(): void {
    if (this.nudged) return;
    this.nudged = true;
    setImmediate(() => {
      this.nudged = false;
      if (!this.stopped) this.tick();
    });
  }

  private tick(): void {
    if (this.closed()) {
      clearInterval(this.timer);
      return;
    }
    this.tellIfSlow();
    if (this.releasing || (this.busy && this.ended.length === 0)) return;
    const part = this.ended.splice(0);
    this.releasing = this.release(part).then(() => { this.busy = true; }, () => { this.ended.push(...part); })
      .finally(() => { this.releasing = undefined; });
  }

  /**
   * After `afterMs`, and again every `afterMs`, tells of the items still running that were not told as hung yet: an
   * item queued for a slot at the first look that then got one and hung was never named (a trial: 48 s).
   */
  private tellIfSlow(): void {
    if (!this.slow || this.telling || this.running.size === 0) return;
    const ms = performance.now() - this.started;
    if (ms < (this.nextTellMs ?? this.slow.afterMs)) return;
    const first = this.nextTellMs === undefined;
    this.nextTellMs = ms + this.slow.afterMs;
    const items = [...this.running].filter((item) => !this.told.has(item));
    if (items.length === 0) return;
    this.telling = true;
    void Promise.resolve(this.slow.tell(items, ms, first)).then((hung) => { for (const item of hung ?? []) this.told.add(item); })
      .catch(() => undefined).finally(() => { this.telling = false; });
  }
}

/**
 * A batch's word on its slow items: `tell` is called after `afterMs` with the items still running (`first`: the first
 * time), and again every `afterMs` with those not told as hung; it resolves the items it told as hung.
 */
export interface SlowTell {
  afterMs: number;
  tell(items: string[], ms: number, first: boolean): Promise<string[]> | string[] | void;
}
