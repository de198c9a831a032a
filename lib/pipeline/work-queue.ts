import type Redis from 'ioredis';
import { withTimeout } from '../at-most';
import { ticketJson } from '../queue/bee-queue-storage';
import type { KeySpace, Step, StepKeys } from '../redis/keys';
import { ScriptCommands, withScripts } from '../redis/scripts';
import { lossesRecorded } from '../redis/data-loss';
import { recordUnreadable } from '../redis/unreadable';
import { wrongTypeFix } from '../redis/wrong-type';
import type { EncodedRequest } from './requests';

/** Tickets (Bee-Queue jobs) waiting or running per machine and step, at most; each carries a batch at a time. */
export const MAX_TICKETS = 32;
/**
 * Requests per mark script. Redis runs nothing else while a script runs: one mark of a 100,000-row commit (or
 * notifyChanged of 100,000 ids) kept every other client waiting 0.23 s (bare requests) to 1.1 s (with fields).
 */
export const MARK_CHUNK = 5_000;
/** Latest publishes kept per machine for `status`. */
export const RECENT_PUBLISHES_KEPT = 100;

/** How a machine's step batches its work. */
export interface BatchSettings {
  batchSize: number;
  debounceMs: number;
  /**
   * How long (ms) the publication step keeps when each subject's latest run was taken, so that a subject found
   * later from a row changed before then is not run again (keys.covered); 0 or absent: none kept.
   */
  coveredMs?: number;
}

/** One item a run took, with its (still encoded) merged request. */
export interface TakenItem {
  item: string;
  raw: string;
}

export interface TakenBatch {
  /** Redis' time (ms) when the batch was taken: every request it covers was made before. */
  now: number;
  items: TakenItem[];
  /** Items left pending because another run holds their lock. */
  held: number;
  /** The stamp of the batch's claim in Redis, which FINISH releases ('' with no items). */
  claim: string;
  /** The take found nothing and ended the ticket (a lingering one too, when the machine is paused). */
  ended: boolean;
  /** For a lingering ticket that took nothing: in how long the next pending item is ready, if one is pending. */
  nextInMs?: number;
  /** Inbox entries that could not be read (written by hand, or by another version): how many, and the first ten. */
  unreadable?: { count: number; entries: string[] };
  /**
   * On a ticket's first take: items of its earlier run (a worker that died or stopped mid-batch, Bee-Queue ran the
   * ticket again) that wait for that run's locks to expire, and in how long the last one does.
   */
  orphaned?: { count: number; inMs: number };
  /** On a ticket's first take: how many items of its earlier run were taken again now (their locks had expired). */
  recovered: number;
  /** The items taken whose last publish has an outcome not known (keys.publishing): item -> its record. */
  uncertain: Map<string, string>;
}

/** How one item of a batch ended; `failed` retries with backoff, `requeue` runs it again soon, uncharged. */
export type ItemOutcome = string;
export type ItemResult = [item: string, outcome: ItemOutcome, error: string | null, pauseMs?: number];

/** Outcomes that put an item back in pending (or record it as failed); FINISH needs their error and pause. */
const BACK_OUTCOMES = new Set<ItemOutcome>(['failed', 'requeue', 'invalid', 'paused', 'spilled']);

/**
 * FINISH's form of a batch's results: the items that ended, one list per outcome (most of a batch ends alike, and
 * a list of strings is what the script decodes fastest), and the full results of those that go back.
 */
function groupResults(results: ItemResult[]): { ended: Record<ItemOutcome, string[]>; back: ItemResult[] } {
  const ended: Record<ItemOutcome, string[]> = {};
  const back: ItemResult[] = [];
  for (const result of results) {
    if (BACK_OUTCOMES.has(result[1])) back.push(result);
    else (ended[result[1]] ??= []).push(result[0]);
  }
  return { ended, back };
}

/**
 * One run of a ticket, from its first take to its end. Bee-Queue may hand one ticket to two live workers (a worker
 * stopped by SIGSTOP is still served the blocking pop it had sent, and the stall check hands the same job to
 * another), so a run has its own id: the field of its batches' claims (take.lua) and, when its step locks its
 * items (WorkQueue.locks), its lock token.
 */
export interface TicketRun {
  ticket: string;
  id: string;
}

/** A run of `ticket` named `id`: a worker names a new one with lockToken. */
export function ticketRun(ticket: string, id: string): TicketRun {
  return { ticket, id };
}

export interface RetrySettings {
  attempts: number;
  initialDelayMs: number;
}

/** How long a read of KeySpace.lostBefore is taken as current (WorkQueue.lostBefore). */
const LOST_READ_MS = 1_000;

/**
 * The work set of one machine's step in Redis: pending items and their merged requests, claims of running
 * batches, and the tickets that run them. Every operation is one script call (lib/redis/scripts/).
 */
export class WorkQueue {
  private readonly redis: Redis & ScriptCommands;
  private readonly k: StepKeys;
  private readonly tickets: string[];
  private readonly stats: string;
  private readonly locksKey: string;
  private readonly publishingKey: string;
  private readonly recent: string;
  private readonly paused: string;
  private readonly rate: string;
  private readonly covered: string;
  private readonly coveredMs: number;
  private lostRead?: { at: number; losses: number; value: number | undefined };
  readonly wakeChannel: string;
  /** Whether runs lock their items: EnsurePublication's subjects are; FindSubjects' changed rows need no lock. */
  readonly locks: boolean;

  constructor(redis: Redis, private readonly keys: KeySpace, readonly machine: string, readonly step: Step, readonly settings: BatchSettings) {
    this.redis = withScripts(redis);
    this.k = keys.step(machine, step);
    this.tickets = keys.ticketKeys(machine, step);
    this.stats = keys.stats(machine);
    this.locksKey = keys.locks(machine);
    this.publishingKey = keys.publishing(machine);
    this.recent = keys.recentPublishes(machine);
    this.paused = keys.paused(machine);
    this.rate = keys.rate(machine);
    this.covered = keys.covered(machine);
    this.wakeChannel = keys.wakeChannel(machine, step);
    this.locks = step === 'ensure-publication';
    this.coveredMs = this.locks ? settings.coveredMs ?? 0 : 0;
  }

  private tokenOf(run: TicketRun): string {
    return this.locks ? run.id : '';
  }

  /**
   * Records requests (merged with any pending for the same item); resolves Redis' time (ms). `inbox`: a commit's
   * requests, which wait in the inbox, for the next take to sort in, when the step has no debounce (see mark.lua).
   * `sent`: called as each script call of the mark goes out, before Redis answers; a take sent on this queue's
   * connection after that finds its requests, since Redis runs one connection's commands in order.
   */
  async mark(requests: Array<[item: string, request: EncodedRequest]>, inbox = false, sent?: () => void): Promise<number> {
    if (requests.length <= MARK_CHUNK) return this.markChunk(requests, inbox, sent);
    let now = 0;
    for (let i = 0; i < requests.length; i += MARK_CHUNK) now = await this.markChunk(requests.slice(i, i + MARK_CHUNK), inbox, sent);
    return now;
  }

  private async markChunk(requests: Array<[item: string, request: EncodedRequest]>, inbox: boolean, sent?: () => void): Promise<number> {
    if (requests.length === 0) return 0;
    // Requests without fields (a subject's own change, a resync: most of them) travel as bare items, which the
    // script records without decoding a JSON object for each.
    const merged: Array<[string, EncodedRequest]> = [];
    const plain: string[] = [];
    for (let i = 0; i < requests.length; i++) { // indexed: once per commit, mostly unoptimized (router.ts)
      const pair = requests[i];
      if (hasFields(pair[1])) merged.push(pair);
      else plain.push(pair[0]);
    }
    const toInbox = inbox && this.settings.debounceMs === 0;
    // ioredis writes the call (or queues it, in order, while it reconnects) before smMark returns.
    const marked = this.redis.smMark(this.k.pending, this.k.requests, this.k.runs, this.paused, ...this.tickets,
      this.k.inbox, this.k.inboxed, this.covered,
      this.settings.debounceMs, this.settings.batchSize, MAX_TICKETS, ticketJson(this.machine, this.step),
      JSON.stringify(merged), this.wakeChannel, JSON.stringify(plain), toInbox ? '1' : '0', plain.length + merged.length);
    sent?.();
    return Number(await marked);
  }

  /**
   * Takes the next batch for a run of a ticket, locking its items for `lockTtlMs` when the run locks. With nothing
   * to take the ticket ends, unless it `lingers` (then it stays counted as running, to be woken). `limit`: fewer
   * items than a batch while this worker is behind on its publishes (PublishGate.room); take.lua caps it at the
   * batch size. `invite`: then other workers, which run the machine too, are asked to take what it leaves ready.
   */
  async take(
    run: TicketRun, first: boolean, lockTtlMs = 0, lingers = false, limit = this.settings.batchSize, invite = false,
  ): Promise<TakenBatch> {
    const reply = await this.redis.smTake(this.k.pending, this.k.requests, this.k.claims, this.k.runs, this.locksKey,
      ...this.tickets, this.stats, this.paused, this.k.inbox, this.k.inboxed, this.k.busy, this.publishingKey,
      this.covered, run.ticket, this.tokenOf(run), this.settings.batchSize, this.locks ? lockTtlMs : 0, MAX_TICKETS, ticketJson(this.machine, this.step),
      first ? '1' : '0', this.step, lingers ? '1' : '0', this.settings.debounceMs, run.id, limit, invite ? this.wakeChannel : '', this.coveredMs);
    const claim = readClaim(String(reply[4]));
    const items: TakenItem[] = [];
    for (let i = 0; i < claim.flat.length; i += 2) items.push({ item: claim.flat[i], raw: claim.flat[i + 1] });
    const uncertain = new Map<string, string>();
    const records = reply[6] as string[];
    for (let i = 0; i < records.length; i += 2) uncertain.set(records[i], records[i + 1]);
    const next = String(reply[3]);
    const nextInMs = next === '' || next === 'ended' ? undefined : Math.max(0, Number(next) - Number(reply[0]));
    return {
      now: Number(reply[0]), held: Number(reply[1]), items, claim: claim.stamp,
      ended: items.length === 0 && next === 'ended', nextInMs, unreadable: readUnreadable(String(reply[5] ?? '')), uncertain,
      recovered: Number(reply[2]),
      orphaned: Number(reply[7]) > 0 ? { count: Number(reply[7]), inMs: Math.max(0, Number(reply[8]) - Number(reply[0])) } : undefined,
    };
  }

  /** Ends a batch; resolves whether the ticket goes on: `more` when work is ready, `linger` even when none is. */
  async finish(
    run: TicketRun, claim: string, results: ItemResult[], retry: RetrySettings, goOn: 'end' | 'more' | 'linger',
  ): Promise<boolean> {
    return await this.end(run, claim, results, retry, { end: '0', more: '1', linger: '2' }[goOn], '0') === 1;
  }

  /**
   * FINISH sent again after the first was lost with the connection (it may have run): ends the batch and the ticket
   * only while the batch is not finished; resolves whether it did (false: the first had run, or another run of
   * the ticket took the batch over and this run's locks had expired).
   */
  async finishAgain(run: TicketRun, claim: string, results: ItemResult[], retry: RetrySettings): Promise<boolean> {
    return await this.end(run, claim, results, retry, '0', '0', '1') !== -1;
  }

  /**
   * Ends these items of a batch that still runs: their outcomes are counted, their locks and claimed requests let
   * go; the ticket counts as busy (not as a run that can take new work) until its batch finishes.
   */
  async release(run: TicketRun, claim: string, results: ItemResult[], retry: RetrySettings): Promise<void> {
    await this.end(run, claim, results, retry, '0', '1');
  }

  private end(
    run: TicketRun, claim: string, results: ItemResult[], retry: RetrySettings, goOn: string, part: '0' | '1', again: '0' | '1' = '0',
  ): Promise<number> {
    const { ended, back } = groupResults(results);
    return this.redis.smFinish(this.k.pending, this.k.requests, this.k.claims, this.k.runs, this.locksKey,
      this.k.failed, this.stats, this.recent, ...this.tickets, this.paused, this.k.inbox, this.k.inboxed, this.k.busy,
      run.ticket, this.tokenOf(run), JSON.stringify(ended), retry.attempts, retry.initialDelayMs, this.settings.batchSize, MAX_TICKETS,
      ticketJson(this.machine, this.step), goOn, this.step, RECENT_PUBLISHES_KEPT, claim, JSON.stringify(back), part, run.id,
      this.wakeChannel, again);
  }

  /**
   * Makes the tickets that ready items need, with commits' items sorted in first: after a ticket was failed unrun
   * (corrupt or malformed), the items it stood for had none.
   */
  async reschedule(): Promise<void> {
    await ingestInbox(this.redis, this.k);
    await this.reap(true);
  }

  /**
   * Puts back the batches of runs that are gone and that no ticket will run again (reap-14.lua); resolves how many
   * items went back to pending. Workers call it every stall interval, as Bee-Queue checks its own stalled jobs;
   * `reschedule`: it makes the tickets ready items need even when none went back.
   */
  async reap(reschedule = false): Promise<number> {
    return Number(await this.redis.smReap(this.k.pending, this.k.requests, this.k.claims, this.k.runs, this.k.busy,
      this.locksKey, ...this.tickets, this.paused, this.locks ? '1' : '0', this.settings.batchSize, MAX_TICKETS,
      ticketJson(this.machine, this.step), reschedule ? '1' : '0'));
  }

  /**
   * Makes one ticket when ready items have waited untaken for `waitedMs` and none waits (nudge-10.lua): the runs that
   * stand in for them may be a dead worker's. Resolves whether it made one.
   */
  async nudge(waitedMs: number): Promise<boolean> {
    return Number(await this.redis.smNudge(this.k.pending, this.k.inbox, this.paused, ...this.tickets, waitedMs,
      ticketJson(this.machine, this.step))) === 1;
  }

  /** Records inbox entries a take could not read on the machine, for status and drain to tell (lib/redis/unreadable.ts). */
  noteUnreadable(count: number): Promise<void> {
    return recordUnreadable(this.redis, this.keys, this.machine, count);
  }

  /**
   * Whether Redis answers a PING within `ms`: a slow batch's warning asks before it blames the hooks, as a Redis that
   * stopped answering (SIGSTOP, a network that drops packets) holds every run at its next command (a trial).
   */
  answers(ms: number): Promise<boolean> {
    return withTimeout(this.redis.ping(), ms).then(() => true, () => false);
  }

  /** Whether the connection is up (ioredis 'ready'): a Redis that is down refuses it; a stopped one keeps it open. */
  connected(): boolean {
    return this.redis.status === 'ready';
  }

  /**
   * When Redis last lost the machine's data, as a runtime found it (KeySpace.lostBefore), or undefined; read at most
   * once a second per process, as every batch of a step asks.
   */
  async lostBefore(): Promise<number | undefined> {
    const losses = lossesRecorded(); // one this process found is read at once
    if (this.lostRead && this.lostRead.losses === losses && performance.now() - this.lostRead.at < LOST_READ_MS) return this.lostRead.value;
    const raw = await this.redis.get(this.keys.lostBefore(this.machine));
    const value = raw === null || !Number.isFinite(Number(raw)) ? undefined : Number(raw);
    this.lostRead = { at: performance.now(), losses, value };
    return value;
  }

  /** How long the machine's publishing stays paused (ms), by Redis' clock; 0 when it is not. */
  async pausedFor(): Promise<number> {
    return Math.max(0, await this.redis.pttl(this.paused));
  }

  /** Waits until the machine's shared rate limit lets one more publish through. */
  async waitForRate(limit: { max: number; perMs: number }): Promise<void> {
    for (;;) {
      const waitMs = await this.redis.smRate(this.rate, limit.max, limit.perMs);
      if (waitMs === 0) return;
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }

  /** Extends a run's locks; resolves the items whose lock was lost. */
  async extend(token: string, ttlMs: number, items: string[]): Promise<string[]> {
    if (items.length === 0) return [];
    return this.redis.smExtend(this.locksKey, token, ttlMs, ...items);
  }

  /** Records publishes about to be made, before they are (keys.publishing). */
  async markPublishing(entries: Map<string, string>): Promise<void> {
    if (entries.size > 0) await this.redis.hset(this.publishingKey, entries);
  }

  /**
   * For an error of one of this queue's scripts: the keys it was given that hold the wrong type (WRONGTYPE), said
   * with their fix ending in `then`; undefined when none is found.
   */
  wrongTypeFix(error: unknown, then: string): Promise<string | undefined> {
    return wrongTypeFix(this.redis, this.keys, error, () => then);
  }

  /** Forgets publishes whose result is stored. */
  async clearPublishing(items: string[]): Promise<void> {
    if (items.length > 0) await this.redis.hdel(this.publishingKey, ...items);
  }
}

/** Sorts a step's inbox into its pending set and requests, for a reader that asks about one item (see ingest-4.lua). */
export async function ingestInbox(redis: Redis, k: StepKeys): Promise<void> {
  await withScripts(redis).smIngest(k.pending, k.requests, k.inbox, k.inboxed);
}

/** The take's report of unreadable inbox entries: '' or JSON [count, [entries]] (schedule.lua, ingest). */
function readUnreadable(stored: string): TakenBatch['unreadable'] {
  if (stored === '') return undefined;
  const [count, entries] = JSON.parse(stored) as [number, string[] | Record<string, never>];
  return { count: Number(count), entries: Array.isArray(entries) ? entries : [] };
}

/**
 * A claim as the take script stores it (one field of `claims` per run): "<stamp>\n" and the batch as one JSON
 * array, item, request, item, request...; '' reads as no items.
 */
function readClaim(stored: string): { stamp: string; flat: string[] } {
  const newline = stored.indexOf('\n');
  if (newline < 0) return { stamp: '', flat: [] };
  return { stamp: stored.slice(0, newline), flat: JSON.parse(stored.slice(newline + 1)) as string[] };
}

/** The items of the claims (the `claims` hash's values) of a step: what its runs are working on. */
export function claimedItems(claims: string[]): string[] {
  return claims.flatMap((stored) => readClaim(stored).flat.filter((_, i) => i % 2 === 0));
}

/** Each item of the claims of a step (the `claims` hash) with its run and when its batch was taken (ms, Redis' clock). */
export function claimedSince(claims: Record<string, string>): Array<{ run: string; item: string; since: number }> {
  return Object.entries(claims).flatMap(([run, stored]) => {
    const { stamp, flat } = readClaim(stored);
    const since = Number.parseInt(stamp, 10);
    return flat.filter((_, i) => i % 2 === 0).map((item) => ({ run, item, since }));
  });
}

function hasFields(request: EncodedRequest): boolean {
  for (const _ in request) return true;
  return false;
}
