import { InvalidJobError } from '../errors';

/** FindSubjects: one changed row of a listened entity. */
export interface FindSubjectsJob {
  v: 1;
  machine: string;
  entity: string;
  id: string;
  gen: string;
  /** W3C trace context of the request that created the job. */
  trace?: Record<string, string>;
}

/** EnsurePublication: one subject. `reschedules` counts lock-held re-delays. */
export interface EnsurePublicationJob {
  v: 1;
  machine: string;
  subjectId: string;
  gen: string;
  reschedules?: number;
  trace?: Record<string, string>;
}

const GEN = /^\d+$/;

function fail(queue: string, data: unknown, problem: string): never {
  let shown: string;
  try { shown = JSON.stringify(data) ?? String(data); } catch { shown = String(data); }
  throw new InvalidJobError(
    `Job data in ${queue} is malformed (${problem}): ${shown.slice(0, 200)}. ` +
    'Jobs are written by sync-machine itself; enqueue work with notifyChanged() or resync() instead of writing to its queues.');
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 512;
}

export function parseFindSubjectsJob(data: unknown, queue: string, machine: string): FindSubjectsJob {
  const d = data as Partial<FindSubjectsJob> | null;
  if (!d || typeof d !== 'object') fail(queue, data, 'not an object');
  if (d.v !== 1) fail(queue, data, 'unknown version');
  if (d.machine !== machine) fail(queue, data, `machine is not "${machine}"`);
  if (!isText(d.entity) || !isText(d.id)) fail(queue, data, 'entity or id missing');
  if (!isText(d.gen) || !GEN.test(d.gen)) fail(queue, data, 'gen missing');
  return d as FindSubjectsJob;
}

export function parseEnsurePublicationJob(data: unknown, queue: string, machine: string): EnsurePublicationJob {
  const d = data as Partial<EnsurePublicationJob> | null;
  if (!d || typeof d !== 'object') fail(queue, data, 'not an object');
  if (d.v !== 1) fail(queue, data, 'unknown version');
  if (d.machine !== machine) fail(queue, data, `machine is not "${machine}"`);
  if (!isText(d.subjectId)) fail(queue, data, 'subjectId missing');
  if (!isText(d.gen) || !GEN.test(d.gen)) fail(queue, data, 'gen missing');
  if (d.reschedules !== undefined && !(Number.isInteger(d.reschedules) && d.reschedules >= 0)) {
    fail(queue, data, 'reschedules is not a count');
  }
  return d as EnsurePublicationJob;
}
