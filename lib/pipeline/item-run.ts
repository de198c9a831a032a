import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { CallOutcomeUnknownError, describeError, InvalidJobError, listed, LockLostError, LockLostWhilePublishingError, RetryAfter, SyncMachineError } from '../errors';
import type { Logger } from '../logger';
import type { MachineDefinition } from '../metadata/machine-definition';
import type { Step } from '../redis/keys';
import { isWrongTypeError } from '../redis/wrong-type';
import { ATTR, contextFrom, linkOrigins, traced } from '../tracing';
import { decodeRequest, PendingRequest } from './requests';
import { PausedHere, PublishGate } from './publish-gate';
import { SaidTogether } from './said-together';
import type { ItemResult, RetrySettings, TakenItem } from './work-queue';

export interface ItemRunSettings {
  machine: MachineDefinition;
  step: Step;
  /** `<prefix>:<queue name>`, the span's destination. */
  queue: string;
  /** `process <queue>`: each item's span. */
  spanName: string;
  logger: Logger;
  retry: RetrySettings;
  /** How log lines name the item: "Order 42", "Customer 7". */
  describe(item: string): string;
  /** What publishes (and unpublishes) of this machine wait for in this process: slots, a pause, the rate limit. */
  gate: PublishGate;
  /** Asks for a run of `item` that publishes even an unchanged payload (after a lock lost mid-publish). */
  forceRerun?(item: string): Promise<void>;
  /** Requests a run of the item, as a change of it would. */
  rerun?(item: string): Promise<void>;
  /** close() abandoned the runs still in flight: their failures are recorded nowhere (see fail), stores not retried. */
  closed(): boolean;
  /**
   * For Redis' WRONGTYPE refusal of a script the item's run called: the error naming the keys of the wrong type and
   * the fix, or undefined when none is found. A trial's 50 failed changes said only "WRONGTYPE ... script: 484ee6…".
   */
  explain?(error: unknown): Promise<Error | undefined>;
}

/**
 * Runs one item of a batch in its own span, a child of the request that first asked for it (linked to the
 * others), and turns whatever happens into that item's result: an outcome, or a failure that is retried alone.
 */
export async function runItem(
  s: ItemRunSettings, taken: TakenItem, work: (request: PendingRequest) => Promise<string>,
): Promise<ItemResult> {
  let request: PendingRequest;
  try {
    request = decodeRequest(taken.raw, `${s.step} ${s.describe(taken.item)} of ${s.machine.className}`);
  } catch (error) {
    return fail(s, taken.item, 0, error);
  }
  return traced(s.spanName, () => ({
    [ATTR.machine]: s.machine.name, [ATTR.attempt]: request.attempt + 1,
    [ATTR.messagingSystem]: 'bee-queue', [ATTR.messagingOperation]: 'process', [ATTR.messagingDestination]: s.queue,
  }), async (span) => {
    linkOrigins(request.origins, { traceparent: request.parent });
    try {
      const outcome = await work(request);
      span.setAttribute(ATTR.outcome, outcome);
      return [taken.item, outcome, null] as ItemResult;
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
      span.setAttribute(ATTR.outcome, 'failed');
      if (error instanceof LockLostWhilePublishingError) return lostWhilePublishing(s, taken.item, error);
      const named = isWrongTypeError(error) ? await s.explain?.(error).catch(() => undefined) : undefined;
      return fail(s, taken.item, request.attempt, named ?? error);
    }
  }, { kind: SpanKind.CONSUMER, parent: contextFrom(request.parent ? { traceparent: request.parent } : undefined) });
}

/**
 * The API may hold this run's payload while another run (which took the expired lock) published a newer one and
 * stored its digest: a plain re-run would find the store equal and leave the API behind. So nothing was stored,
 * and the subject runs again with `force`, which publishes the current payload even when the store matches it.
 */
async function lostWhilePublishing(s: ItemRunSettings, item: string, error: LockLostWhilePublishingError): Promise<ItemResult> {
  const what = s.describe(item);
  let rerun = `${what} runs again and publishes its current payload even if unchanged, so the API and the store reconverge`;
  try {
    await s.forceRerun?.(item);
  } catch (cause) {
    rerun = `${what} runs again, but its forced re-run could not be recorded (${describeError(cause)}): ` +
      `call resync(${s.machine.className}, { ids: ['${item}'], force: true })`;
  }
  // A lock that went with Redis' data was not outlived: a trial read "raise worker.lockTtlMs" after a 0.1 s outage.
  const withData = /went with the data Redis lost/.test(`${describeError(error.cause)} ${describeError((error.cause as { cause?: unknown })?.cause)}`);
  const why = withData ? 'It went with the data Redis lost (said above).'
    : 'The lock could not be extended for longer than it lasts: the event loop was blocked, or the process stopped or ' +
      'paused (raise worker.lockTtlMs above the longest such stall), or Redis did not answer (an outage the log says, ' +
      'longer than the lock).';
  s.logger.error(`${s.machine.className}: lock on ${what} was lost while publishing; another run may have published ` +
    `a newer payload meanwhile, so nothing was stored and ${rerun}. ${why}`);
  return [item, 'requeue', describeError(error)];
}

/**
 * A run that stalls past its locks (a process stopped, say) finds every subject of its batch lost when it goes on:
 * one line per subject was 190 lines for one batch in a trial. Said together, within 200 ms; a lone one as before.
 */
const lockLost = new SaidTogether<ItemRunSettings, { item: string; error: unknown }>(200, (s, lost) => {
  const what = `${s.step} of ${s.machine.className} for`;
  // Locks that went with Redis' data were not taken after a stall: nothing to raise (batch-locks.ts).
  const withData = describeError(lost[0].error).includes('went with the data Redis lost');
  const advice = withData ? 'Their next runs go above any version sent meanwhile.'
    : 'Raise worker.lockTtlMs if hooks are slow; a process stopped or paused for longer than it loses its locks too.';
  if (lost.length === 1) {
    s.logger.warn(`${what} ${s.describe(lost[0].item)} stopped before publishing: ${describeError(lost[0].error)}; it runs ` +
      `again from current data. ${advice}`);
    return;
  }
  const named = listed(inIdOrder(lost.map((l) => l.item)).map((item) => s.describe(item)), 10);
  const how = withData ? 'their locks went with the data Redis lost' : 'their locks were taken over after they expired';
  s.logger.warn(`${what} ${named} stopped before publishing: ${how} (the first: ` +
    `${describeError(lost[0].error)}); they run again from current data. ${advice}`);
});

/** At the end of a batch: says what its items left to be said together (lost locks, retried failures, gone subjects). */
export function sayBatchNotes(s: ItemRunSettings): void {
  lockLost.sayNow(s);
  retried.sayNow(s);
  failedForGood.sayNow(s);
  goneUnstored.sayNow(s);
}

function fail(s: ItemRunSettings, item: string, attempt: number, thrown: unknown): ItemResult {
  const error = redisGaveUp(thrown);
  const what = `${s.step} of ${s.machine.className} for ${s.describe(item)}`;
  const retryAfter = RetryAfter.in(error);
  if (retryAfter) {
    const starts = s.gate.pause(retryAfter.delayMs);
    if (starts && !(retryAfter instanceof PausedHere)) {
      s.logger.warn(`${what}: ${describeError(error)}; ${s.machine.className} pauses publishing on every worker for ` +
        `${retryAfter.delayMs} ms. Its subjects stay pending; no attempt is charged.`);
    }
    return [item, 'paused', describeError(error), retryAfter.delayMs];
  }
  if (error instanceof LockLostError) {
    lockLost.add(s, { item, error });
    return [item, 'requeue', describeError(error)];
  }
  if (error instanceof InvalidJobError) {
    s.logger.error(`${what} failed and will not be retried (recorded as failed): ${describeError(error)}`);
    return [item, 'invalid', describeError(error)];
  }
  if (s.closed()) {
    // Its connections are gone: nothing is retried or recorded from here; the next worker runs it (close() said so).
    s.logger.warn(`${what} ended after close() had given up on its run: ${describeError(error)}. ` +
      'It runs again once its lock expires.');
    return [item, 'failed', describeError(error)];
  }
  const made = attempt + 1;
  // An attempt that will be retried is a warning, said with the others of its batch: a partner failing 20% of calls
  // during a resync of 20,000 logged 5,033 errors for a run that ended with everything published, and at 30%,
  // 2,136 warnings of a resync of 5,000. The last attempt is the error, said together too.
  if (made < s.retry.attempts) retried.add(s, { item, made, error });
  else failedForGood.add(s, { item, made, error });
  return [item, 'failed', describeError(error)];
}

interface FailedAttempt { item: string; made: number; error: unknown }

/** "ensure-publication of OrderToApiSync for Order 5 failed (attempt 1 of 3, will retry): <error>" */
function failedLine(s: ItemRunSettings, attempt: FailedAttempt): string {
  return `${s.step} of ${s.machine.className} for ${attemptLine(s, attempt)}`;
}

/** "Order 5 failed (attempt 1 of 3, will retry): <error>", and what a call of unknown outcome means. */
function attemptLine(s: ItemRunSettings, { item, made, error }: FailedAttempt): string {
  const left = s.retry.attempts - made;
  return `${s.describe(item)} failed (attempt ${made} of ${s.retry.attempts}${left > 0
    ? ', will retry' : ', no retries left: recorded as failed, see status() and retryFailed()'}): ${describeError(error)}` +
    (error instanceof CallOutcomeUnknownError ? unknownOutcome(s.machine, error, left > 0) : '');
}

/**
 * Retried attempts, said together: how many, which subjects, the errors by kind, and the first in full. A lone one as
 * before.
 */
const retried = new SaidTogether<ItemRunSettings, FailedAttempt>(1_000, (s, found) => {
  if (found.length === 1) s.logger.warn(failedLine(s, found[0]));
  else s.logger.warn(attemptsTogether(s, found, 'failed and will retry'));
});

/** Up to this many last attempts said together are said one by one, in full. */
const FAILED_ONE_BY_ONE = 3;

/**
 * Last attempts, said together likewise, as the error: a deploy whose @Build threw for some orders logged 2,565 error
 * lines, one per subject (a trial), where status says them all at once. A few are said one by one, as before.
 */
const failedForGood = new SaidTogether<ItemRunSettings, FailedAttempt>(1_000, (s, found) => {
  if (found.length <= FAILED_ONE_BY_ONE) for (const attempt of found) s.logger.error(failedLine(s, attempt));
  else s.logger.error(attemptsTogether(s, found, 'failed with no retries left (recorded as failed, see status() and retryFailed())'));
});

/** "<step> of <Machine>: 150 subjects <outcome> (Order 1, …; attempt 3 of 3). The errors: 140 × "…"; …. The first: …" */
function attemptsTogether(s: ItemRunSettings, found: FailedAttempt[], outcome: string): string {
  // The errors by kind: a message names its subject ("threw for Order 5"), which is left out to count alike ones.
  // Alike but for their numbers too, said with the first one's: "rejected odd total 1011", "... 1013" and 23 more
  // read as 25 kinds of one bug (a trial).
  const kinds = new Map<string, { n: number; first: string; differ: boolean }>();
  for (const { item, error } of found) {
    // And as MikroORM names an entity ("Post[1137] not initialized"): one bug read as nine kinds (a trial).
    const text = describeError(error).split(s.describe(item)).join('…').split(`[${item.slice(item.indexOf(':') + 1)}]`).join('[…]');
    const pattern = text.replace(/\d+/g, '#');
    const kind = kinds.get(pattern);
    if (kind) {
      kind.n += 1;
      kind.differ ||= kind.first !== text;
    } else {
      kinds.set(pattern, { n: 1, first: text, differ: false });
    }
  }
  const byKind = [...kinds.values()].sort((a, b) => b.n - a.n);
  const shown = byKind.slice(0, 3).map(({ n, first, differ }) => `${n} × "${first}"${differ ? ' (their numbers differ)' : ''}`).join('; ') +
    (byKind.length > 3 ? `; ${byKind.length - 3} other kinds` : '');
  const attempts = [...new Set(found.map((f) => f.made))].sort((a, b) => a - b);
  const unknown = found.find((f) => f.error instanceof CallOutcomeUnknownError && f !== found[0]);
  // find-subjects' items are changed rows (Agent 10), not subjects.
  const what = s.step === 'find-subjects' ? 'changed rows' : 'subjects';
  return `${s.step} of ${s.machine.className}: ${found.length} ${what} ${outcome} ` +
    `(${listed(inIdOrder(found.map((f) => f.item)).map((item) => s.describe(item)), 10)}; attempt ${attempts.join(', ')} of ${s.retry.attempts}). ` +
    `The errors: ${shown}. The first: ${attemptLine(s, found[0])}` +
    (unknown && !(found[0].error instanceof CallOutcomeUnknownError) ? `. The first of unknown outcome: ${attemptLine(s, unknown)}` : '');
}

/** Machines whose log has explained, in this process, what a retried call of unknown outcome does: said once each. */
const explainedRetry = new WeakSet<MachineDefinition>();

/** What a failed call means for the partner API, and what the next run does about it (uncertain-publishes.ts). */
function unknownOutcome(machine: MachineDefinition, error: CallOutcomeUnknownError, retries: boolean): string {
  // A hook that threw before its call (a bug in it) reads the same here as a call that failed: said as a condition.
  const mayHave = error.hook === 'publish'
    ? `. If @Publish made its call before it threw, the call (version ${error.version}) may have reached the API all the same.`
    : `. If @Unpublish made its call before it threw, the unpublish (version ${error.version}) may have reached the API all the same.`;
  if (retries && error.hook === 'publish' && explainedRetry.has(machine)) {
    return `${mayHave} Its retry sends the payload it builds then (as said above).`;
  }
  if (retries && error.hook === 'publish') explainedRetry.add(machine);
  const next = retries ? 'Its retry' : 'Its next run (a change, retryFailed(), a resync)';
  return error.hook === 'publish'
    ? `${mayHave} ${next} builds the payload again and sends it even if it is the one stored: with the same version and ` +
      'idempotency key when it is the same payload, with a higher version when it changed.'
    : `${mayHave} ${next} sends it again, or publishes if the subject is publishable again.`;
}

/**
 * A subject whose row is gone and that was never published needs nothing, and says so; a migration that deletes
 * 10,000 drafts said it 10,000 times. Said together; a lone one as before.
 */
const goneUnstored = new SaidTogether<ItemRunSettings, string>(1_000, (s, gone) => {
  const why = '(never published): nothing to do';
  // A row that exists but that the machine's load does not find reads the same way (a trial: orders whose customer
  // MikroORM's eager inner join left out were never published, and only this line said so).
  const hidden = 'If such a row is in the database, the machine\'s load does not find it: it is of another class of ' +
    'its table (single-table inheritance), a filter or a soft delete hides it, or a relation its load joins (eager, or in ' +
    '`relations`) leaves it out.';
  s.logger.warn(gone.length === 1
    ? `${s.machine.className}: ${s.describe(gone[0])} is gone and has no stored payload ${why}. ${hidden}`
    : `${s.machine.className}: ${gone.length} subjects are gone and have no stored payload ${why} ` +
      `(${listed(inIdOrder(gone).map((item) => s.describe(item)), 10)}). ${hidden}`);
});

/** A subject found gone with nothing stored: said with the others of its batch. */
export function tellGone(s: ItemRunSettings, item: string): void {
  goneUnstored.add(s, item);
}

/** Ids as a reader counts them: whole numbers by value (9 before 10), others as text after them. */
function inIdOrder(items: string[]): string[] {
  const numeric = (id: string) => /^-?\d{1,15}$/.test(id);
  return [...items].sort((a, b) => {
    if (numeric(a) && numeric(b)) return Number(a) - Number(b);
    if (numeric(a) !== numeric(b)) return numeric(a) ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

/**
 * ioredis' own error for a command it gave up on while not connected, said as what it means: a trial's failures read
 * "Reached the max retries per request limit (which is 20). Refer to "maxRetriesPerRequest" option for details".
 */
function redisGaveUp(error: unknown): unknown {
  if ((error as { name?: unknown } | undefined)?.name !== 'MaxRetriesPerRequestError') return error;
  return new SyncMachineError('Redis did not answer while it ran (not connected: ioredis gave up on a command after its ' +
    'maxRetriesPerRequest tries)', { cause: error });
}
