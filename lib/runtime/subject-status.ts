import type Redis from 'ioredis';
import type { PayloadStore, StoredPayload } from '../ports';
import type { KeySpace, StepKeys } from '../redis/keys';
import { claimedItems, ingestInbox } from '../pipeline/work-queue';
import { UNPUBLISHED_DIGEST } from '../store/payload-row';
import { readFailure } from './failures';

/** What `SyncMachines.subjectStatus()` reports for one subject of one machine. */
export interface SubjectStatus {
  machine: string;
  /** The subject entity's name. */
  subject: string;
  subjectId: string;
  /**
   * Whether its row is in the database (loaded by its key, without the machine's relations): an id that names no row
   * read like a subject never published (a trial), and a removed one like an unpublished one.
   */
  exists: boolean;
  /** The payload the API last accepted, from the payload store; absent when never published (or unpublished since). */
  published?: {
    /** When the publish was stored. */
    at: Date;
    /** SHA-256 of the canonical JSON sent. */
    digest: string;
    /** 1, 2, 3 ... per successful publish, where the payload store keeps versions. */
    version?: number;
  };
  /**
   * Unpublished after a publish (its row gone, or @CheckPublishable said no), with the version its unpublish went
   * out with; absent otherwise. A trial's voided invoice read "never (or unpublished since)".
   */
  unpublished?: { version: number };
  /** A change (or resync, or retry) is waiting for a run, or a run is working on the subject now. */
  pending: boolean;
  /**
   * Changed rows of other watched entities (a customer's name, say) not yet mapped to subjects: this subject may be
   * among those they map to, and then runs again. Absent when none waits.
   */
  unmapped?: number;
  /** Its runs used up their attempts; a later change or `retryFailed` runs it again. */
  failed?: { error: string; attempts: number; at: Date };
}

export interface SubjectStatusScope {
  redis: Redis;
  keys: KeySpace;
  payloads: PayloadStore;
  machine: { name: string; subject: string };
  /** Whether the subject's row is in the database. */
  exists(subjectId: string): Promise<boolean>;
}

/** Reads one subject's state: the payload store for its last publish, Redis for its pending work and failure. */
export async function readSubjectStatus(scope: SubjectStatusScope, subjectId: string): Promise<SubjectStatus> {
  const { redis, keys, machine } = scope;
  const step = keys.step(machine.name, 'ensure-publication');
  const lookups = keys.step(machine.name, 'find-subjects');
  // findMany leaves an unpublished subject's row out; only then is it read again, for the version it keeps.
  const storedOrUnpublished = scope.payloads.findMany(machine.name, [subjectId]).then(async (found) => {
    const stored = found.get(subjectId);
    return { stored, digest: stored ? undefined : (await scope.payloads.findDigests(machine.name, [subjectId])).get(subjectId) };
  });
  const [{ stored, digest }, work, failure, exists] = await Promise.all([
    storedOrUnpublished,
    readWork(redis, lookups, step, subjectId),
    readFailure(redis, keys, machine.name, machine.subject, subjectId),
    scope.exists(subjectId),
  ]);
  const { unmapped } = work;
  const status: SubjectStatus = { machine: machine.name, subject: machine.subject, subjectId, exists, pending: work.pending };
  if (unmapped > 0) status.unmapped = unmapped;
  if (stored) status.published = published(stored);
  else if (digest?.digest === UNPUBLISHED_DIGEST) status.unpublished = { version: digest.version };
  if (failure) status.failed = { error: failure.error, attempts: failure.attempts, at: failure.at };
  return status;
}

function published(stored: StoredPayload): NonNullable<SubjectStatus['published']> {
  const out: NonNullable<SubjectStatus['published']> = { at: stored.publishedAt ?? stored.generatedAt, digest: stored.digest };
  // Filled once the payload store keeps a version per publish (SPEC §6.2); stores without one leave it out.
  const { version } = stored as StoredPayload & { version?: number | null };
  if (typeof version === 'number') out.version = version;
  return out;
}

/**
 * The changed rows not yet mapped to subjects, and whether the subject is pending or in a run, read at one instant
 * (MULTI). Read one after the other, downstream first, a rename's request could reach EnsurePublication after
 * `pending` was read and its row leave FindSubjects before `unmapped` was: for about 2 ms after a rename a trial read
 * `pending: false` with no `unmapped` (2 of 12 renames). The claims (one per running batch) are read whole.
 */
async function readWork(
  redis: Redis, lookups: StepKeys, step: StepKeys, subjectId: string,
): Promise<{ pending: boolean; unmapped: number }> {
  // A commit's items may still be in the inbox, which cannot be asked about one item: sorted in first.
  await Promise.all([ingestInbox(redis, lookups), ingestInbox(redis, step)]);
  const replies = (await redis.multi().zcard(lookups.pending).hvals(lookups.claims).zscore(step.pending, subjectId)
    .hvals(step.claims).exec()) ?? [];
  for (const [error] of replies) if (error) throw error;
  const [lookupsPending, lookupsClaims, score, claims] = replies.map(([, value]) => value);
  return {
    unmapped: Number(lookupsPending) + claimedItems(lookupsClaims as string[]).length,
    pending: score !== null || claimedItems(claims as string[]).includes(subjectId),
  };
}
