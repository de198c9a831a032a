import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { CallOutcomeUnknownError, describeError, HookError, listed, LockLostWhilePublishingError, InvalidJobError, RetryAfter } from '../errors';
import type { Logger } from '../logger';
import type { MachineDefinition } from '../metadata/machine-definition';
import { recordPublishLatency } from '../metrics';
import type { OrmAdapter, PublishedPayload, StoredDigest } from '../ports';
import { canonicalJson, digestOf, NotJsonError } from '../store/canonical-json';
import { longerThan } from '../store/column-bytes';
import { isPublished, PAYLOAD_TABLE, unpublishedRow } from '../store/payload-row';
import { annotate, ATTR, tracing } from '../tracing';
import type { BatchLocks } from './batch-locks';
import { callHook, hookError } from './call-hook';
import { CallTimeouts } from './call-timeout';
import { ItemRunSettings, runItem, tellGone } from './item-run';
import { LossMargin } from './loss-margin';
import { loadApart, unloadableError } from './load-apart';
import type { Turns } from './turns';
import { PendingRequest, requestForces } from './requests';
import { SPILLED, type PublishGate, type Spillable } from './publish-gate';
import { StoreBatch, StoreSlot } from './store-batch';
import { ForcedRequests } from './forced-requests';
import { StoredBodies } from './stored-bodies';
import { UncertainPublishes } from './uncertain-publishes';
import type { ItemResult, TakenBatch, TakenItem } from './work-queue';

/** `spilled`: handed back before its call, to run again in any worker (publish-gate.ts); counted as handed_back, not as an outcome. */
export type PublicationOutcome =
  'published' | 'unchanged' | 'not_publishable' | 'superseded' | 'rescheduled' | 'unpublished' | 'spilled';

export interface EnsurePublicationDeps {
  adapter: OrmAdapter;
  logger: Logger;
  reads: Turns;
  /** The most bytes a stored body may have, when the payload table says (PayloadStore.check). */
  bodyLimit?: number;
}

/**
 * One run over a batch of subjects, each locked by the take: loads every row with one query and every stored
 * digest with another, builds all payloads concurrently, publishes the changed ones (at most `worker.concurrency`
 * at once per machine and process, across its runs), and stores the
 * publishes that succeeded together (store-batch.ts). Each subject ends on its own; a failure holds back none of the others.
 */
export async function ensurePublications(
  deps: EnsurePublicationDeps, settings: ItemRunSettings, batch: TakenBatch, locks: BatchLocks,
): Promise<Array<ItemResult | Promise<ItemResult>>> {
  const { machine } = settings;
  const ids = batch.items.map((i) => i.item);
  const load = (part: string[]) => deps.adapter.load(machine.subject, part, machine.relations);
  const [loaded, stored] = await deps.reads.run(() => Promise.all([
    load(ids).then((rows) => ({ rows, unloadable: new Map<string, unknown>() }), (error: unknown) => ({ error })),
    deps.adapter.payloads.findDigests(machine.name, ids),
  ]));
  // The calls of earlier runs whose outcome is not known, as the take read them (uncertain-publishes.ts).
  const uncertain = UncertainPublishes.of(locks.work, batch.uncertain);
  // The digests read, so the database answers: a failed load is about some of the rows, and is tried in parts.
  // (Both failing is the database, and the whole batch fails, as it does when findDigests alone fails.)
  const { rows, unloadable } = 'error' in loaded
    ? await loadApart((part) => deps.reads.run(() => load(part)), ids, loaded.error, deps.logger,
      `${machine.className}: loading a batch of ${ids.length} ${machine.subjectInfo.name} rows`)
    : loaded;
  respell(ids, rows, unloadable, machine);
  if (machine.subjectInfo.keyKind === 'uuid') lowerCased(stored);
  const lostBefore = await locks.work.lostBefore().catch(() => undefined);
  const bodies = new StoredBodies(deps.adapter.payloads, machine.name, stored.keys());
  const run: BatchRun = {
    deps, settings, machine, locks, gate: settings.gate, readAt: new Date(batch.now), takenAt: batch.now, claimedAt: performance.now(), bodies,
    forced: new ForcedRequests(deps.adapter.payloads, machine.name, batch.items, batch.now), unloadable, uncertain,
    margin: new LossMargin(lostBefore, deps.adapter.payloads, machine.name, ids),
  };
  const store = new StoreBatch<PublishedPayload>(batch.items.length, (entries) => storePublished(deps, settings, run, entries));
  const quick = !tracing();
  return batch.items.map((taken): ItemResult | Promise<ItemResult> => {
    const row = rows.get(taken.item);
    const digest = stored.get(taken.item);
    if (!quick || !row || uncertain.has(taken.item)) return ensureInRun(settings, run, store, taken, row, digest, undefined);
    return withHooks<ItemResult>(machine, row, (early) => {
      if (!unchangedAtOnce(taken, early, digest)) return ensureInRun(settings, run, store, taken, row, digest, early);
      run.gate.settle(taken.item);
      store.skip();
      bodies.skip(taken.item);
      return [taken.item, 'unchanged', null];
    });
  });
}

/**
 * Ids the database found a row for under another spelling: MySQL/MariaDB compare text keys without case, so
 * `notifyChanged(Product, 'sku-1')` loads the row 'SKU-1', and the run, finding no row of its own id, reported the
 * subject gone and left the document stale (a trial: "never published: nothing to do"). Each fails instead, naming
 * the row's spelling. Looked for only when an id has no row (a gone subject), which costs nothing otherwise.
 */
function respell(ids: string[], rows: Map<string, object>, unloadable: Map<string, unknown>, machine: MachineDefinition): void {
  if (rows.size === 0 || ids.every((id) => rows.has(id))) return;
  // Where the key ignores case, every row's key counts ('sku-2' beside 'SKU-2' in one batch passed as gone, a trial);
  // elsewhere only a row no id asked for shows it.
  const asked = machine.subjectInfo.keyIgnoresCase ? undefined : new Set(ids);
  const spelled = new Map<string, string>();
  for (const key of rows.keys()) if (!asked?.has(key)) spelled.set(key.toLowerCase(), key);
  const { name, primaryKey } = machine.subjectInfo;
  for (const id of ids) {
    const key = rows.has(id) ? undefined : spelled.get(id.toLowerCase());
    if (key === undefined) continue;
    unloadable.set(id, new RespelledIdError(key, `the database finds the ${name} row spelled ${JSON.stringify(key)} for ` +
      `${JSON.stringify(id)} (it compares ${name}.${primaryKey} without case), and a subject is its row's id as the ` +
      `row spells it; the subject ${JSON.stringify(key)} runs instead. Notify, resync or map it as ${JSON.stringify(key)}`));
  }
}

/**
 * Stored digests by the lower-case id: a uuid key kept as text on MySQL/MariaDB was taken as spelled before, so an
 * app's upper-case uuids may be stored so; the payload table finds them by the lower-case id (it compares without
 * case) and hands them back as stored. Missed, each would publish again from version 1.
 */
function lowerCased(stored: Map<string, StoredDigest>): void {
  for (const [id, digest] of stored) {
    const lower = id.toLowerCase();
    if (lower !== id && !stored.has(lower)) stored.set(lower, digest);
  }
}

async function ensureInRun(
  settings: ItemRunSettings, run: BatchRun, store: StoreBatch<PublishedPayload>, taken: TakenItem,
  row: object | undefined, stored: StoredDigest | undefined, early: Early | undefined,
): Promise<ItemResult> {
  const slot = store.slot();
  try {
    return await runItem(settings, taken, (request) => ensureOne({ run, id: taken.item, row, stored, request, slot, early }));
  } finally {
    run.gate.settle(taken.item);
    slot.end();
  }
}

/**
 * Without a tracer, an unchanged subject (most of a resync) ends in ensurePublications: its hooks called, its
 * payload compared, and nothing else, with no span or run of its own (they were most of what a subject cost beside
 * its @Build). Calls @CheckPublishable and (if it says true) @Build on the row and hands `decide` what they gave: at
 * once when they return values, else when their promises settle, so a slow @Build holds back no other subject.
 * Async hooks took the subject's full run, and an unchanged resync of such a machine ran at 0.83-0.86x a
 * hand-written loop. Anything else goes on to ensureOne with what the hooks gave, so each runs once.
 */
function withHooks<T>(machine: MachineDefinition, row: object, decide: (early: Early) => T | Promise<T>): T | Promise<T> {
  const { checkPublishable, build } = machine.hooks;
  const built = (early: Early): T | Promise<T> => {
    const payload = early.payload = call(machine, build, row);
    return whenSettled(payload, () => decide(early));
  };
  if (!checkPublishable) return built({});
  const publishable = call(machine, checkPublishable, row);
  const early: Early = { publishable };
  return whenSettled(publishable, () => ('value' in publishable && publishable.value === true ? built(early) : decide(early)));
}

/** `next()` once `result` holds what its hook settled to: at once for a value or a throw, else after its promise. */
function whenSettled<T>(result: Settled, next: () => T | Promise<T>): T | Promise<T> {
  if (!('value' in result) || !isThenable(result.value)) return next();
  const settled = result as { value?: unknown; error?: unknown };
  // One promise per subject: a native promise is passed through as it is, and `next` runs in the same reaction.
  return Promise.resolve(result.value).then((value) => {
    settled.value = value;
    return next();
  }, (error: unknown) => {
    delete settled.value;
    settled.error = error;
    return next();
  });
}

/** Whether the hooks' results show the subject unchanged: publishable, its payload's digest the stored one, not forced. */
function unchangedAtOnce(taken: TakenItem, early: Early, stored: StoredDigest | undefined): boolean {
  if (!stored || !early.payload || !('value' in early.payload)) return false;
  let body: string;
  try {
    body = canonicalJson(early.payload.value);
  } catch {
    return false; // ensureOne reports it
  }
  if (digestOf(body) !== stored.digest) return false;
  try {
    return !requestForces(taken.raw, '');
  } catch {
    return false; // a request that cannot be read fails in runItem, with its own message
  }
}

function call(machine: MachineDefinition, method: string, row: object): Settled {
  try {
    // A promise is settled (and its rejection handled) by whenSettled, in the same turn.
    return { value: machine.instance[method](row) };
  } catch (error) {
    return { error };
  }
}

function isThenable(value: unknown): boolean {
  return value !== null && (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function';
}

/**
 * How long a batch's store write is tried again before its subjects fail (and publish again when retried). The
 * run keeps its locks meanwhile, so no other run publishes these subjects: a late store is safe, a second publish
 * is what this avoids. SQLite under a steady writer can refuse for long: every try there waits out the busy
 * timeout (5 s by default) and still loses the race for the write lock, and three tries were not always enough.
 */
const STORE_RETRY_MS = 60_000;
const STORE_BACKOFF_MS = { first: 100, max: 2_000 };

/**
 * Writes the publishes of a batch with one statement, except those whose lock was lost since the take: another
 * run may have published a newer payload meanwhile, so theirs is not stored and they run again (forced), their
 * calls recorded again as of unknown outcome, so that the rerun goes out with a version above theirs. A failed write
 * (a locked SQLite file, a dropped connection), or a failed look at the locks (Redis not answering), is tried again,
 * with backoff, before the subjects fail: a trial's 15 publishes that the partner had taken were dropped at the
 * first Redis error of an outage, and, Redis coming back empty, went out again with the same versions and other
 * payloads.
 */
async function storePublished(
  deps: EnsurePublicationDeps, settings: ItemRunSettings, run: BatchRun, entries: PublishedPayload[],
): Promise<Map<PublishedPayload, Error>> {
  const { machine } = settings;
  const deadline = performance.now() + STORE_RETRY_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      const lost = await run.locks.lostOf(entries.map((e) => e.subjectId));
      const kept = entries.filter((e) => !lost.has(e.subjectId));
      await deps.adapter.payloads.savePublished(machine.name, kept);
      run.uncertain.clear(kept.map((e) => e.subjectId));
      const resent = kept.filter((e) => run.uncertain.wasResent(e.subjectId));
      if (resent.length > 0) {
        deps.logger.info(`${machine.className}: sent the stored payload again to ${machine.subjectInfo.name} ` +
          `${listed(resent.map((e) => `${e.subjectId} (version ${e.version})`), 10)}: an earlier call of unknown outcome ` +
          '(it threw or timed out, or its worker stopped) may have left the partner API holding another payload or version.');
      }
      if (attempt > 1) deps.logger.info(`${machine.className}: stored ${entries.length} published payload(s) at try ${attempt}.`);
      const refused = new Map<PublishedPayload, Error>();
      const marked: Array<Promise<void>> = [];
      for (const entry of entries) {
        if (!lost.has(entry.subjectId)) continue;
        refused.set(entry, new LockLostWhilePublishingError('the lock was lost before the publish was stored'));
        // Its record may be gone (another run's store cleared it, or Redis came back empty). Best effort: without
        // it the rerun sends the same version, which a partner that takes only higher ones refuses.
        marked.push(run.uncertain.mark(entry.subjectId, entry.version, entry.digest));
      }
      await Promise.all(marked).catch(() => undefined);
      return refused;
    } catch (error) {
      const waitMs = Math.min(STORE_BACKOFF_MS.max, STORE_BACKOFF_MS.first * 2 ** (attempt - 1));
      // After close() the app may have closed its database too: the subjects run again once their locks expire.
      if (performance.now() + waitMs >= deadline || settings.closed()) throw error;
      // The first failure, then one warning in each doubling of tries: a long contention must not flood the log.
      if ((attempt & (attempt - 1)) === 0) {
        deps.logger.warn(`${machine.className}: storing ${entries.length} published payload(s) failed (${describeError(error)}); ` +
          `trying again (try ${attempt + 1}, for up to ${STORE_RETRY_MS / 1000} s while the run holds their locks) rather than publishing them again.`);
      }
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}

/**
 * A subject id that names a row only under another spelling (respell): never retried, as no retry can find its own
 * row (a trial's mapper ids were tried 8 times over two minutes, holding drain()); the row's own subject runs instead.
 */
class RespelledIdError extends InvalidJobError {
  constructor(readonly rowId: string, message: string) {
    super(message);
  }
}

/** What the subjects of one batch share. */
interface BatchRun {
  deps: EnsurePublicationDeps;
  settings: ItemRunSettings;
  machine: MachineDefinition;
  locks: BatchLocks;
  gate: PublishGate;
  /** When the batch was taken, on Redis' clock: every request it covers came before. */
  readAt: Date;
  /** The same, in ms, and performance.now() then: Redis' clock now is takenAt + (performance.now() - claimedAt). */
  takenAt: number;
  claimedAt: number;
  /** The stored bodies, for `previous`: read once the first subject of the batch needs one. */
  bodies: StoredBodies;
  /** Whether a forced request was met by a later publish: read once the first forced, unchanged subject asks. */
  forced: ForcedRequests;
  /** Subjects whose rows the ORM could not load, with its error (see loadApart); the rest of the batch goes on. */
  unloadable: Map<string, unknown>;
  /** Earlier calls whose outcome is not known, and the records of this run's own. */
  uncertain: UncertainPublishes;
  /** How far versions go up after a Redis data loss took such records (loss-margin.ts). */
  margin: LossMargin;
}

interface Subject {
  run: BatchRun;
  id: string;
  row: object | undefined;
  stored: StoredDigest | undefined;
  request: PendingRequest;
  slot: StoreSlot<PublishedPayload>;
  /** What the hooks gave when withHooks called them already. */
  early?: Early;
}

/** What a hook returned (maybe a promise), or what it threw. */
type Settled = { value: unknown } | { error: unknown };
/** The results of @CheckPublishable and @Build that withHooks got, each only if it called that hook. */
interface Early {
  publishable?: Settled;
  payload?: Settled;
}

async function ensureOne(s: Subject): Promise<PublicationOutcome> {
  const { run, id, row, stored } = s;
  const { machine } = run;
  annotate(() => ({ [ATTR.subjectId]: id, [ATTR.entity]: machine.subjectInfo.name }));
  const where = { entity: machine.subjectInfo.name, id };
  if (run.unloadable.has(id)) {
    const cause = run.unloadable.get(id);
    if (!(cause instanceof RespelledIdError)) throw unloadableError(cause);
    await run.settings.rerun?.(cause.rowId).catch(() => undefined); // best effort: the error says what to run
    throw cause;
  }
  if (!row) return withdraw(s, { gone: true });
  const { checkPublishable, build } = machine.hooks;
  if (checkPublishable && !(await hookOnce(s, s.early?.publishable, checkPublishable, 'check_publishable', where))) {
    return withdraw(s, { gone: false });
  }
  const payload = await hookOnce(s, s.early?.payload, build, 'build', where);
  const body = canonical(payload, machine, id);
  const digest = digestOf(body);
  // Unchanged: nothing to send and nothing to write, unless an earlier call may have sent another payload since, or
  // it is forced and no run published it after the request (ForcedRequests).
  if (stored && stored.digest === digest && !run.uncertain.forces(id, stored)) {
    const met = s.request.force && await run.forced.metSince(id, s.request.firstAt);
    if (!s.request.force || met) {
      run.uncertain.settle(id);
      return met ? 'superseded' : 'unchanged';
    }
  }
  const abort = new AbortController();
  const timeouts = new CallTimeouts();
  const context = await publishContext(s, digest, abort, timeouts);
  // Past the check above with the stored payload: an earlier call of unknown outcome may have left another one.
  if (stored?.digest === digest && !s.request.force) run.uncertain.resending(id);
  await run.uncertain.mark(id, context.version, digest);
  run.gate.settle(id); // queued for a slot from here on
  // Spillable unless an earlier call's record was read for it: the record just marked is then the only one, and
  // forgetting it again loses nothing. Handed back once already, only far behind or at close; twice, only at close.
  const spillable = run.uncertain.has(id) ? false : [true, 'farBehind', 'atClose'][s.request.handedBack] as Spillable;
  const sent = await run.gate.run(async () => {
    await run.locks.ensure(id);
    run.gate.callTimeouts(id, timeouts);
    await run.locks.during(id, abort, `${where.entity} ${id}`, () => callHook(machine, machine.hooks.publish, 'publish',
      [row, payload, context], where).catch((error: unknown) => { throw outcomeUnknown('publish', context.version, error); })
      .finally(() => { timeouts.clear(); run.gate.callReturned(id); }));
    // A stall during the call may have let another run publish: then store nothing, and record the call again as of
    // unknown outcome (its record may be gone: another run's store cleared it, or Redis came back empty), so that the
    // rerun goes out above its version, not with another payload under it.
    await run.locks.confirm(id).catch(async (error: unknown) => {
      if (error instanceof LockLostWhilePublishingError) await run.uncertain.mark(id, context.version, digest).catch(() => undefined);
      throw error;
    });
  }, spillable, id);
  if (sent === SPILLED) {
    // Queued behind more than this process publishes soon: back to pending, for any worker, as if never taken.
    run.uncertain.clear([id]);
    return 'spilled';
  }
  // Stored with the rest of the batch, outside the gate so that the next publishes go on meanwhile.
  await s.slot.save({ subjectId: id, body: storedBody(run, id, body), digest, generatedAt: run.readAt, version: context.version });
  if (machine.hooks.afterPublish) await callHook(machine, machine.hooks.afterPublish, 'after_publish', [row, payload], where);
  if (s.request.firstAt !== undefined) {
    recordPublishLatency(machine.name, run.takenAt + (performance.now() - run.claimedAt) - s.request.firstAt);
  }
  return 'published';
}

/** Machines already told that a body was too long for the payload table, in this process: said once each. */
const toldTooLong = new WeakSet<MachineDefinition>();

/**
 * What is stored as the body of a publish: '' with `store: 'digest'`, and when it is longer than the body column
 * holds (MySQL's TEXT), which made every store of it fail after its publish, so the subject published again on
 * each retry and ended failed. Kept without its body, the subject keeps its digest and version; only its next
 * ctx.previous is undefined.
 */
function storedBody(run: BatchRun, id: string, body: string): string {
  const { machine, deps: { bodyLimit, logger } } = run;
  if (machine.store === 'digest') return '';
  if (!longerThan(body, bodyLimit)) return body;
  const bytes = Buffer.byteLength(body);
  if (!toldTooLong.has(machine)) {
    toldTooLong.add(machine);
    logger.warn(`${machine.className}: the payload of ${machine.subjectInfo.name} ${id} is ${bytes} bytes, longer ` +
      `than the payload table's body column holds (${bodyLimit} bytes); it is stored without its body, so its next ` +
      'publish gets ctx.previous undefined (its digest and version are kept: it is not published again). Payloads ' +
      `this long are stored so from now on, and said only this once. To keep them, widen the column: ALTER TABLE ${PAYLOAD_TABLE} ` +
      "MODIFY body LONGTEXT NOT NULL (out of the ORM's schema sync, which would narrow it again); or set store: 'digest'.");
  }
  return '';
}

async function withdraw(s: Subject, subject: { gone: boolean }): Promise<PublicationOutcome> {
  const { run, id, stored } = s;
  const { machine } = run;
  // A first publish whose outcome is not known may have reached the API: it is unpublished as if it were stored.
  // (A row kept by an unpublish is not a publish: the subject stays unpublished, with nothing to write.)
  if (!isPublished(stored) && !(run.uncertain.mayHavePublished(id) && machine.hooks.unpublish)) {
    run.uncertain.settle(id); // nothing was ever stored, and nothing is to be: no call of it needs correcting
    // Never published: a mapper's id of a row that never was, or a row deleted before its first run. One unpublished
    // already is routine (an Order's removal, then its lines'), and was warned of as if it were not (a trial).
    // A captured removal of the row itself is gone as expected; any other gone row may be one the load does not find.
    if (subject.gone && stored === undefined && !s.request.ops.includes('remove')) tellGone(run.settings, id);
    return 'not_publishable';
  }
  // Read before the gate, as for a publish: a permit is not held through the read of the stored body.
  const abort = new AbortController();
  const timeouts = new CallTimeouts();
  const context = machine.hooks.unpublish ? await publishContext(s, stored?.digest ?? '', abort, timeouts, 'unpublish') : undefined;
  if (context) await run.uncertain.mark(id, context.version, '');
  run.gate.settle(id);
  await run.gate.run(async () => {
    if (machine.hooks.unpublish && context) {
      const where = { entity: machine.subjectInfo.name, id };
      await run.locks.ensure(id);
      run.gate.callTimeouts(id, timeouts);
      await run.locks.during(id, abort, `${where.entity} ${id}`, () => callHook(machine, machine.hooks.unpublish!, 'unpublish',
        [id, context.previous, context], where).catch((error: unknown) => { throw outcomeUnknown('unpublish', context.version, error); })
        .finally(() => { timeouts.clear(); run.gate.callReturned(id); }));
      await run.locks.confirm(id).catch(async (error: unknown) => {
        if (error instanceof LockLostWhilePublishingError) await run.uncertain.mark(id, context.version, '').catch(() => undefined);
        throw error;
      });
    }
  }, false, id);
  // Its version is kept, so that a publish after it goes on from there (UNPUBLISHED_DIGEST). Stored with the rest of
  // the batch, outside the gate, as a publish is: a write of its own per subject, made while holding a publish slot,
  // ran a trial's 1,000 unpublishes at a quarter to half of its script's pace, where its re-posts were even with it.
  const version = context?.version ?? stored?.version ?? 0; // no call went out without @Unpublish
  await s.slot.save(unpublishedRow(id, version, run.readAt));
  return 'unpublished';
}

/** A call's throw, as the log should tell it: one the partner answered with a RetryAfter is known not applied. */
function outcomeUnknown(hook: 'publish' | 'unpublish', version: number, error: unknown): unknown {
  return error instanceof HookError && !RetryAfter.in(error) ? new CallOutcomeUnknownError(hook, version, error) : error;
}

/** What `@Publish` (and `@Unpublish`) gets as its last argument. */
export interface PublishContext<P = unknown> {
  subjectId: string;
  /** The payload last published for this subject; undefined if none, or with `store: 'digest'`. */
  previous?: P;
  /**
   * 1, 2, 3 ...: +1 per successful publish of this subject; `@Unpublish` gets one above the last published one (or
   * above a call's of unknown outcome after it), and a publish after it one above that. A number is skipped after a
   * call whose outcome was not known (it failed or timed
   * out, or its worker died): that call may have reached the API with it, so no other payload gets it.
   */
  version: number;
  /**
   * The same for a call and its retries (the same payload, with the same version); any other call gets its own, also
   * one sending a payload that was sent before (A, B, then A again; or after an unpublish).
   */
  idempotencyKey: string;
  /** 1 on the first try of this run's request, 2 on its first retry, ... */
  attempt: number;
  /**
   * Aborted once this run can no longer prove it holds the subject's lock (a stall or stop longer than
   * `worker.lockTtlMs`: another run may publish a newer payload meanwhile), or close() gave up on the run. Pass it to
   * the HTTP client (`fetch(url, { signal: ctx.signal })`) so that a stale call is not sent; read right before the
   * call, it checks the lock first. A call that fails after it aborted stores nothing and runs again.
   */
  readonly signal: AbortSignal;
  /**
   * `signal`, also aborted after `ms` (with a TimeoutError): `fetch(url, { signal: ctx.timeout(10_000) })`, so that a
   * partner that never answers fails the call, which is then retried, instead of holding the subject's lock and a
   * publish slot. (Node 20's `AbortSignal.any([ctx.signal, AbortSignal.timeout(ms)])` never times out once the
   * garbage collector took the timeout signal.)
   */
  timeout(ms: number): AbortSignal;
}

async function publishContext(
  s: Subject, digest: string, abort: AbortController, timeouts: CallTimeouts, action: 'publish' | 'unpublish' = 'publish',
): Promise<PublishContext> {
  const { id, stored } = s;
  const { machine, locks } = s.run;
  const what = `${machine.subjectInfo.name} ${id}`;
  const body = stored && machine.store !== 'digest' ? await s.run.bodies.of(id) : undefined;
  const version = (action === 'publish' ? s.run.uncertain.version(id, digest, stored, s.request.force === true)
    : s.run.uncertain.unpublishVersion(id, stored)) +
    await s.run.margin.of(id, stored, s.run.uncertain.has(id));
  // A call and its retries share a key; any other call gets its own (UncertainPublishes.seed).
  const seed = s.run.uncertain.seed(id, action === 'publish' ? digest : '', version);
  const keyed = seed === '' ? `${machine.name}\n${id}\n${action}\n${digest}` : `${machine.name}\n${id}\n${action}\n${digest}\n${version}\n${seed}`;
  return {
    get signal() { return locks.signal(id, abort, what); },
    timeout: (ms: number) => timeouts.signal(locks.signal(id, abort, what), ms, what),
    subjectId: id,
    previous: body ? JSON.parse(body) : undefined,
    version,
    idempotencyKey: createHash('sha256').update(keyed).digest('hex').slice(0, 32),
    attempt: s.request.attempt + 1,
  };
}

/**
 * A hook's result on the subject's row: what withHooks already got from it (its throw or rejection reported as
 * callHook would), or a call now, in its span.
 */
async function hookOnce(
  s: Subject, early: Settled | undefined, method: string, spanName: string, where: { entity: string; id: string },
): Promise<unknown> {
  const { machine } = s.run;
  if (!early) return callHook(machine, method, spanName, [s.row], where);
  try {
    if ('error' in early) throw early.error;
    return await early.value;
  } catch (error) {
    throw hookError(machine, method, where, error, s.row);
  }
}

function canonical(payload: unknown, machine: MachineDefinition, id: string): string {
  if (payload === undefined) {
    // "an undefined value at $ ... leave it out of the array" told a build that returned nothing little (a trial).
    throw new HookError(`${machine.className}.${machine.hooks.build} returned nothing (undefined) for ` +
      `${machine.subjectInfo.name} ${id}: return the payload to publish (did a branch miss its return, or an arrow ` +
      'function its parentheses around an object?); to leave a subject unpublished, return false from @CheckPublishable.');
  }
  try {
    return canonicalJson(payload);
  } catch (error) {
    if (!(error instanceof NotJsonError)) throw error;
    throw new HookError(
      `${machine.className}.${machine.hooks.build} returned a payload for ${machine.subjectInfo.name} ${id} that is not ` +
      `JSON-serialisable: ${error.message}; ${error.fix} in @Build.`, { cause: error });
  }
}
