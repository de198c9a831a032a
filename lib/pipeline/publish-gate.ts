import { atMost } from '../at-most';
import { RetryAfter } from '../errors';
import type { CallTimeouts } from './call-timeout';
import type { WorkQueue } from './work-queue';
import { Semaphore, Withdrawn } from './semaphore';

/** A publish that did not go because this process knows the machine is paused: nothing to log per subject. */
export class PausedHere extends RetryAfter {
  constructor(delayMs: number) {
    super(delayMs, 'publishing is paused by an earlier RetryAfter');
  }
}

/** How stale this process' knowledge of a pause started elsewhere may be. */
const PAUSE_CHECK_MS = 100;
/**
 * How much publishing a process keeps queued behind its slots. A run takes a batch (500 subjects by default) and each
 * process runs several: with a slow partner API one process held a backfill of a few batches while the others had
 * nothing (600 subjects at 50 ms a call, 2 workers at concurrency 10: 500 and 100 calls). Subjects queued beyond this
 * go back to pending for any worker (spill) while another worker runs the machine, and runs take only what fits
 * (room), so that pending work stays where a worker that starts later finds it.
 */
export const KEEP_QUEUED_MS = 1_000;
/**
 * Queued beyond this many times KEEP_QUEUED_MS, a worker hands back even subjects handed back once before: each goes
 * back once at most otherwise, and one worker of two was left with about 1,000 of them behind its 4 slots for 100 s
 * while the other had nothing (a trial: 164 s against 116 s for the same backfill). Not those handed back twice:
 * on a loaded host a worker's pace fell so far that it was often this far behind, and 2 workers built some
 * subjects of a backfill 4 times (a trial: 1.25-1.89 builds per subject).
 */
const FAR_BEHIND = 10;
/** How long publishes wait for the one that went alone after a pause before going anyway (a hung call). */
const PROBE_WAIT_MS = 5_000;
/** How often a queue of publishes is looked at for what to spill. */
const SPILL_CHECK_MS = 200;
/** How often a run that waits for room looks again. */
const ROOM_CHECK_MS = 50;
/** A publish time older than this says nothing of the partner API now: runs take whole batches again. */
const PUBLISH_TIME_KEPT_MS = 5_000;
/**
 * Above this event-loop utilisation, publishes are slow because this process is busy, not the partner API: nothing
 * is spilled and runs take whole batches. In the bench's single CPU-bound worker a publish held its slot 30-190 ms
 * (a loopback API), and spilling made its runs load and build most subjects twice (changed subjects 1.23x -> 1.02x
 * of the loop on PostgreSQL).
 */
const BUSY_LOOP = 0.8;

/**
 * Whether a publish may go back to pending before its turn: never (false); while this worker is behind (true, see
 * run) or closing; only when it closes or is far behind (`farBehind`, FAR_BEHIND), for a subject handed back once
 * already; or only when it closes (`atClose`), for one handed back twice. Under load, workers
 * passed subjects back and forth: 3 worker processes handed back 13,158-24,159 subjects in a backfill of 15,000
 * (a trial, and the two-workers profile beside 5 busy loops), each loaded and built again every time.
 */
export type Spillable = boolean | 'farBehind' | 'atClose';

/** What a spillable publish resolves to when it went back to pending before its turn (PublishGate.run). */
export const SPILLED = Symbol('spilled');

/** What a run may take (PublishGate.room); `took` says what it took (nothing when the take failed), as soon as it answers. */
export interface Room {
  size: number;
  took(items: string[]): void;
}

/** What PublishGate.queuedOf tells of a slow batch's subjects. */
export interface QueuedPublishes {
  /** Waiting for a slot. */
  items: string[];
  /** In a slot that they got recently, or past their call (storing): moving, not hung. */
  started: string[];
  /** Publishes of this process waiting for a slot, its slots, and a call's recent time (ms). */
  queued: number;
  concurrency: number;
  publishMs: number;
  /** Of its slots, those held by a call longer than `recentMs`. */
  heldLong: number;
  /** Of `items`, those in such a call that a ctx.timeout ends, with the ms left until it does. */
  timed: Map<string, number>;
}

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
  /** A publish's time in its slot (rate limit included), averaged over the last ones; and when one last ended. */
  private publishMs = 0;
  private publishedAt = -Infinity;
  private spillTimer?: NodeJS.Timeout;
  /** Whether a look is asking if another worker runs the machine. */
  private asking = false;
  /**
   * Subjects taken by this process' runs that have neither queued for a slot nor been found to need none: room()
   * counts them as queued while other workers run the machine. Without them, runs that took while an earlier take
   * still loaded and built saw room that take was about to fill, and several workers handed back most of a backfill,
   * each subject loaded and built again (3 worker processes, 3,000 subjects at 50 ms: 2,372-3,146 handed back;
   * 836-1,911 with them, nearly all from the first batches, taken whole before any publish had ended).
   */
  private readonly coming = new Set<string>();
  /** What room() granted to runs whose takes have not answered yet. */
  private setAside = 0;
  /** The event loop's use since the last look (see BUSY_LOOP), and that look's reading. */
  private loopBusy = 0;
  private loopSeen = performance.eventLoopUtilization();
  /** Set by stop(): spillable publishes go back to pending rather than wait for a slot. */
  private stopped = false;
  /** Until when a pause here has been said (pause() tells its caller whether it starts one). */
  private announcedUntil = 0;
  /** A pause was held here since the last publish went out: the next one goes alone (afterPause). */
  private resuming = false;
  /** The answer of the publish that went alone after a pause, while it is out. */
  private probe?: Promise<void>;
  /** Subjects whose publish waits for a slot, for a slow batch's warning to tell them from hung calls. */
  private readonly waiting = new Set<string>();
  /** Subjects whose publish has its slot, and since when (performance.now()): a call just started is not hung. */
  private readonly inSlot = new Map<string, number>();
  /**
   * Subjects whose call returned, until their batch ends: a slow batch's warning named such subjects, storing their
   * payloads after a 41 ms call, as calls that "have not returned" (a trial).
   */
  private readonly returned = new Set<string>();
  /** The ctx.timeout() timers of the calls in a slot (callTimeouts): a warning tells such a call from one that may never end. */
  private readonly timeouts = new Map<string, CallTimeouts>();

  /** `othersRun`: whether another live worker runs the machine (WorkerRoll); nothing is spilled while none does. */
  constructor(
    private readonly concurrency: number, private readonly work: WorkQueue, readonly othersRun: () => Promise<boolean>,
    private readonly rateLimit?: RateLimit,
  ) {
    this.slots = new Semaphore(concurrency);
  }

  /**
   * Runs `publish` in a slot. A `spillable` one (a publish whose subject can run again elsewhere with nothing lost)
   * that waits behind more than KEEP_QUEUED_MS of publishes, while this process mostly waits on them (BUSY_LOOP) and
   * another worker runs the machine, resolves SPILLED instead, without running; a `farBehind` one only when far
   * behind (FAR_BEHIND) or once the runtime closes (stop), as every spillable one does then.
   */
  async run<T>(publish: () => Promise<T>, spillable?: false, item?: string): Promise<T>;
  async run<T>(publish: () => Promise<T>, spillable: Spillable, item?: string): Promise<T | typeof SPILLED>;
  async run<T>(publish: () => Promise<T>, spillable: Spillable = false, item?: string): Promise<T | typeof SPILLED> {
    if (spillable && this.stopped) return SPILLED;
    if (spillable) this.watchQueue(); // a `farBehind` one too (FAR_BEHIND)
    if (item !== undefined) this.waiting.add(item);
    try {
      return await this.slots.run(async () => {
        if (item !== undefined) {
          this.waiting.delete(item);
          this.inSlot.set(item, performance.now());
        }
        await this.outsidePause();
        const probed = await this.afterPause();
        const started = performance.now();
        try {
          if (this.rateLimit) {
            await this.work.waitForRate(this.rateLimit);
            // Again after the turn: a pause begun while it waited holds it too. Before, publishes that waited for a
            // turn went out through a partner's 429 pause, one per turn (a trial: eight within a 5 s pause).
            await this.outsidePause();
          }
          return await publish();
        } catch (error) {
          // Held before the publishes waiting for this one look again (the run says it, pause(), a turn later).
          const retryAfter = RetryAfter.in(error);
          if (retryAfter && !(retryAfter instanceof PausedHere)) this.holdFor(retryAfter.delayMs);
          throw error;
        } finally {
          this.published(performance.now() - started);
          probed?.();
        }
      }, spillable === true ? 'always' : spillable === 'farBehind' ? 'lastResort' : spillable === 'atClose' ? 'final' : false);
    } catch (error) {
      if (error instanceof Withdrawn) return SPILLED;
      throw error;
    } finally {
      if (item !== undefined) {
        this.waiting.delete(item);
        this.timeouts.delete(item);
        if (this.inSlot.delete(item)) this.returned.add(item);
      }
    }
  }

  /**
   * The subject's call returned (its run goes on in its slot: the lock's check, with Redis): not hung, whatever
   * holds it now. A trial's Redis stopped after such calls, and the warning named them as calls not returned.
   */
  callReturned(item: string): void {
    this.timeouts.delete(item);
    if (this.inSlot.delete(item)) this.returned.add(item);
  }

  /** The ctx.timeout() timers of the subject's call, until it returns. */
  callTimeouts(item: string, timeouts: CallTimeouts): void {
    this.timeouts.set(item, timeouts);
  }

  /**
   * Of `items`, those whose publish waits for a slot behind this process' others, and those whose call started less
   * than `recentMs` ago, with how publishes go: a batch of 500 behind 20 slots at 300 ms a call runs 7.5 s, and the
   * warning for a slow batch blamed hung calls, for the queued subjects and for calls that had just started after
   * waiting (trials).
   */
  queuedOf(items: string[], recentMs: number): QueuedPublishes {
    const now = performance.now();
    const since = now - recentMs;
    const queued: string[] = [];
    const started: string[] = [];
    const timed = new Map<string, number>();
    for (const item of items) {
      if (this.waiting.has(item)) queued.push(item);
      else if (this.returned.has(item) || (this.inSlot.get(item) ?? -Infinity) > since) started.push(item);
      else {
        const endsAt = this.timeouts.get(item)?.endsAt;
        if (endsAt !== undefined && this.inSlot.has(item)) timed.set(item, Math.max(0, endsAt - now));
      }
    }
    let heldLong = 0;
    for (const at of this.inSlot.values()) if (at <= since) heldLong += 1;
    return { items: queued, started, queued: this.slots.queued, concurrency: this.concurrency, publishMs: this.publishMs, heldLong, timed };
  }

  /** Throws PausedHere while the machine's publishing is paused; a pause another worker started is read from Redis, at most every PAUSE_CHECK_MS. */
  private async outsidePause(): Promise<void> {
    if (Date.now() - this.checkedAt > PAUSE_CHECK_MS) {
      this.checkedAt = Date.now();
      const left = await this.work.pausedFor();
      if (left > 0) this.pause(left);
    }
    const left = this.pausedUntil - Date.now();
    // Thrown as the hook would have: the subject waits out the pause, uncharged.
    if (left > 0) throw new PausedHere(left);
  }

  /**
   * How many subjects a run of this machine may take now: a whole batch while no publish waits for a slot here;
   * else what fits in KEEP_QUEUED_MS at the recent pace, waiting while less than half of that does. While other
   * workers run the machine it also counts what runs here took and have not yet queued, and sets a limited size
   * aside until the run says what it took (Room.took), so that runs taking at once do not each see the same room.
   */
  async room(batchSize: number, stopped: () => boolean): Promise<Room> {
    for (;;) {
      const keep = this.keep();
      // No pace known (no publish ended lately, or this process is busy): a whole batch, and nothing to count.
      if (keep === undefined || stopped()) return { size: batchSize, took: () => undefined };
      // Nothing waits for a slot: a whole batch, as most of a resync's subjects need none (an unchanged one).
      if (this.slots.queued === 0) return { size: batchSize, took: (items) => this.expect(items) };
      // What is on its way counts only while other workers run the machine: one alone hands nothing back, and
      // taking early keeps its loads going beside its publishes, as before the count.
      const others = await this.othersRun().catch(() => false);
      const onItsWay = others ? this.coming.size + this.setAside : 0;
      // Half of what is kept, at least a slot's worth: not a take per publish that ends.
      const room = keep - this.slots.queued - onItsWay;
      if (room >= Math.min(batchSize, Math.max(this.concurrency, Math.ceil(keep / 2)))) {
        const size = Math.min(batchSize, room);
        if (!others) return { size, took: (items) => this.expect(items) };
        this.setAside += size;
        let open = true;
        return {
          size, took: (items) => {
            if (open) this.setAside -= size;
            open = false;
            this.expect(items);
          },
        };
      }
      await new Promise((resolve) => setTimeout(resolve, ROOM_CHECK_MS));
    }
  }

  /** The subject queues for a slot now, or was found to need none (or its batch ended): it no longer counts as coming. */
  settle(item: string): void {
    this.coming.delete(item);
  }

  /** A batch ended: none of its subjects is on its way any more. */
  settleAll(items: string[]): void {
    if (this.returned.size > 0) for (const item of items) this.returned.delete(item);
    if (this.coming.size === 0) return;
    for (const item of items) this.coming.delete(item);
  }

  private expect(items: string[]): void {
    for (const item of items) this.coming.add(item);
  }

  /** Publishes this process works through in KEEP_QUEUED_MS at the recent pace; undefined when none ran lately. */
  private keep(): number | undefined {
    if (performance.now() - this.publishedAt > PUBLISH_TIME_KEPT_MS || this.publishMs <= 0 || this.loopBusy > BUSY_LOOP) return undefined;
    return Math.ceil((KEEP_QUEUED_MS / this.publishMs) * this.concurrency);
  }

  private published(ms: number): void {
    this.publishMs = this.publishedAt === -Infinity ? ms : 0.8 * this.publishMs + 0.2 * ms;
    this.publishedAt = performance.now();
  }

  /** While publishes wait, looks every SPILL_CHECK_MS for those beyond what this process keeps, and spills them. */
  private watchQueue(): void {
    if (this.spillTimer) return;
    this.loopSeen = performance.eventLoopUtilization();
    this.spillTimer = setInterval(() => {
      const seen = performance.eventLoopUtilization();
      this.loopBusy = performance.eventLoopUtilization(seen, this.loopSeen).utilization;
      this.loopSeen = seen;
      const queued = this.slots.queued;
      if (queued === 0) {
        clearInterval(this.spillTimer);
        this.spillTimer = undefined;
        this.loopBusy = 0;
        return;
      }
      const keep = this.keep();
      if (keep === undefined || queued <= keep || this.asking) return;
      // Alone on the machine, what is spilled comes back to this worker's own runs, to be loaded and built again.
      this.asking = true;
      void this.othersRun().then((others) => {
        const kept = this.keep() ?? Infinity;
        const over = this.slots.queued - kept; // publishes went on meanwhile
        if (others && over > 0) this.slots.withdrawLast(over, this.slots.queued > FAR_BEHIND * kept ? 'lastResort' : 'always');
      }, () => undefined).finally(() => { this.asking = false; });
    }, SPILL_CHECK_MS);
    this.spillTimer.unref();
  }

  /**
   * The runtime closes: the spillable publishes that wait for a slot go back to pending now, and later ones at once,
   * for another worker or the next start. Before, close() waited for every publish its runs had taken: a batch of
   * 300 at 150-300 ms a call outlasted a 1.5 s worker.closeTimeoutMs, and the calls it left in flight were stored by
   * no one (the app closed its database), so another worker sent them again (a trial: 10-20 per close).
   */
  stop(): void {
    this.stopped = true;
    this.slots.withdrawLast(Infinity, 'final');
  }

  /**
   * A hook threw RetryAfter: later publishes of this process wait too, without asking the partner API. Returns
   * whether this starts a pause here: publishes in flight when the API said so answer alike, and said it once.
   */
  pause(delayMs: number): boolean {
    const now = Date.now();
    const starts = this.announcedUntil <= now;
    this.announcedUntil = Math.max(this.announcedUntil, now + delayMs);
    this.holdFor(delayMs);
    return starts;
  }

  /** Publishes here wait `delayMs`, and the first one after goes alone (afterPause). */
  private holdFor(delayMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + delayMs);
    this.resuming = true;
  }

  /**
   * After a pause, the first publish goes alone and the others wait for its answer (at most PROBE_WAIT_MS, in case
   * it hangs): a new pause, or the way is clear. Before, every slot of the process went out as the pause ended,
   * into the partner's next 429 together (a trial: about 21 calls at a time, each one refused). Returns the
   * release when this publish is that first one.
   */
  private async afterPause(): Promise<(() => void) | undefined> {
    while (this.probe) {
      const probe = this.probe;
      await atMost(PROBE_WAIT_MS, probe, () => undefined);
      if (this.probe === probe) return undefined; // still out: it hangs, so this one goes anyway
      await this.outsidePause();
    }
    if (!this.resuming) return undefined;
    this.resuming = false;
    let answer!: () => void;
    const probe = new Promise<void>((resolve) => { answer = resolve; });
    this.probe = probe;
    return () => {
      if (this.probe === probe) this.probe = undefined;
      answer();
    };
  }
}
