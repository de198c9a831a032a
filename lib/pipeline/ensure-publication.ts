import type Redis from 'ioredis';
import type Redlock from 'redlock';
import { HookError, LockLostError } from '../errors';
import type { Logger } from '../logger';
import type { MachineDefinition } from '../metadata/machine-definition';
import type { OrmAdapter, StoredPayload } from '../ports';
import type { KeySpace } from '../redis/keys';
import { recordPublish } from '../redis/recent-publishes';
import { canonicalJson, digestOf, NotJsonError } from '../store/canonical-json';
import { callHook } from './call-hook';
import type { Enqueuer } from './enqueuer';
import { originsOf } from './coalescer';
import { EnsurePublicationJob, parseEnsurePublicationJob } from './job-data';
import { LockState, withSubjectLock } from './subject-lock';
import { recordPublishLatency } from '../metrics';
import { annotate, ATTR, linkOrigins } from '../tracing';

export type PublicationOutcome =
  'published' | 'unchanged' | 'not_publishable' | 'superseded' | 'rescheduled' | 'unpublished';

export interface EnsurePublicationDeps {
  adapter: OrmAdapter;
  enqueuer: Enqueuer;
  redis: Redis;
  redlock: Redlock;
  keys: KeySpace;
  logger: Logger;
  lockTtlMs: number;
}

/** One run for one subject, under its lock: load, build, compare, publish, store. */
export async function ensurePublication(
  deps: EnsurePublicationDeps, machine: MachineDefinition, jobId: string, data: unknown, queue: string,
): Promise<PublicationOutcome> {
  const job = parseEnsurePublicationJob(data, queue, machine.name);
  annotate({ [ATTR.subjectId]: job.subjectId, [ATTR.entity]: machine.subjectInfo.name });
  const run = await withSubjectLock(deps.redlock, deps.keys.lock(machine.name, job.subjectId), deps.lockTtlMs,
    (lock) => runLocked(deps, machine, job, jobId, lock));
  if (run.held) return run.value;
  const coalescer = deps.enqueuer.coalescer(machine.name, 'ensure-publication');
  if (await coalescer.isSuperseded(job.subjectId, job.gen, jobId)) return 'superseded';
  await deps.enqueuer.reschedule(job, rescheduleDelay(job.reschedules ?? 0));
  return 'rescheduled';
}

/** Jittered, growing with each re-delay, capped at 5 s. */
function rescheduleDelay(reschedules: number): number {
  const base = Math.min(5000, 50 * 2 ** reschedules);
  return Math.round(base * (0.5 + Math.random()));
}

async function runLocked(
  deps: EnsurePublicationDeps, machine: MachineDefinition, job: EnsurePublicationJob, jobId: string,
  lock: LockState,
): Promise<PublicationOutcome> {
  const coalescer = deps.enqueuer.coalescer(machine.name, 'ensure-publication');
  // Claimed after the lock, before reading: a change committed after this point makes a new job.
  const claim = await coalescer.claim(job.subjectId, job.gen, jobId);
  if (claim.superseded) return 'superseded';
  linkOrigins(originsOf(claim.data), job.trace);
  const claimedLocally = Date.now();
  const readAt = new Date(claim.now);
  const id = job.subjectId;
  const where = { entity: machine.subjectInfo.name, id };

  // Independent reads, both after the claim: made together.
  const [rows, stored] = await Promise.all([
    deps.adapter.load(machine.subject, [id], machine.relations), deps.adapter.payloads.find(machine.name, id),
  ]);
  const row = rows.get(id);
  let outcome: PublicationOutcome;
  if (!row) {
    outcome = await withdraw(deps, machine, id, stored, lock, { gone: true });
  } else if (machine.hooks.checkPublishable &&
      !(await callHook(machine, machine.hooks.checkPublishable, 'check_publishable', [row], where))) {
    outcome = await withdraw(deps, machine, id, stored, lock, { gone: false });
  } else {
    const payload = await callHook(machine, machine.hooks.build, 'build', [row], where);
    const body = canonical(payload, machine, id);
    const digest = digestOf(body);
    if (stored && stored.digest === digest && claim.data.force !== '1') {
      await deps.adapter.payloads.markGenerated(machine.name, id, readAt);
      outcome = 'unchanged';
    } else {
      assertLockHeld(lock, machine, id);
      await callHook(machine, machine.hooks.publish, 'publish', [row, payload], where);
      assertLockHeld(lock, machine, id);
      await deps.adapter.payloads.savePublished(machine.name, id, body, digest, readAt);
      // For `status` only: losing an entry must not fail a run whose publish is already stored.
      await recordPublish(deps.redis, deps.keys, machine.name, id).catch(() => undefined);
      if (machine.hooks.afterPublish) {
        await callHook(machine, machine.hooks.afterPublish, 'after_publish', [row, payload], where);
      }
      outcome = 'published';
      // Both ends on Redis' clock: the first commit's mark, and the claim plus the time since.
      if (claim.data.at) recordPublishLatency(machine.name, claim.now + (Date.now() - claimedLocally) - Number(claim.data.at));
    }
  }
  await coalescer.release(jobId);
  return outcome;
}

async function withdraw(
  deps: EnsurePublicationDeps, machine: MachineDefinition, id: string, stored: StoredPayload | undefined,
  lock: LockState, subject: { gone: boolean },
): Promise<PublicationOutcome> {
  if (!stored) {
    if (subject.gone) {
      deps.logger.warn(`${machine.className}: ${machine.subjectInfo.name} ${id} is gone and was never published: nothing to do.`);
    }
    return 'not_publishable';
  }
  if (machine.hooks.unpublish) {
    assertLockHeld(lock, machine, id);
    await callHook(machine, machine.hooks.unpublish, 'unpublish', [id, JSON.parse(stored.body)],
      { entity: machine.subjectInfo.name, id });
  }
  await deps.adapter.payloads.remove(machine.name, id);
  return 'unpublished';
}

function canonical(payload: unknown, machine: MachineDefinition, id: string): string {
  try {
    return canonicalJson(payload);
  } catch (error) {
    if (!(error instanceof NotJsonError)) throw error;
    throw new HookError(
      `${machine.className}.${machine.hooks.build} returned a payload for ${machine.subjectInfo.name} ${id} that is not ` +
      `JSON-serialisable: ${error.message}; convert it (e.g. BigInt to string) in @Build.`, { cause: error });
  }
}

function assertLockHeld(lock: LockState, machine: MachineDefinition, id: string): void {
  if (lock.lost) {
    throw new LockLostError(
      `${machine.className}: the lock on ${machine.subjectInfo.name} ${id} could not be extended; stopped before publishing ` +
      `(${lock.lost.message}). The job is retried; raise lockTtlMs if hooks are slow.`);
  }
}
