import { HookError, InvalidJobError } from '../errors';
import type { Logger } from '../logger';
import type { MachineDefinition } from '../metadata/machine-definition';
import type { Change, OrmAdapter } from '../ports';
import { callHook } from './call-hook';
import type { Enqueuer } from './enqueuer';
import { originsOf } from './coalescer';
import { parseFindSubjectsJob } from './job-data';
import { annotate, ATTR, linkOrigins } from '../tracing';
import { KEY_FIELD, OP_FIELD, SNAPSHOT_FIELD } from './router';

export type FindSubjectsOutcome = 'mapped' | 'superseded' | 'vanished';

export interface FindSubjectsDeps {
  adapter: OrmAdapter;
  enqueuer: Enqueuer;
  logger: Logger;
}

/** Loads one changed row fresh, asks the machine which subjects it affects, and enqueues each. */
export async function findSubjects(
  deps: FindSubjectsDeps, machine: MachineDefinition, jobId: string, data: unknown, queue: string,
): Promise<FindSubjectsOutcome> {
  const job = parseFindSubjectsJob(data, queue, machine.name);
  const listener = machine.listeners.find((l) => l.info.name === job.entity && l.mapper !== undefined);
  if (!listener) {
    throw new InvalidJobError(
      `${queue}: ${machine.className} has no @SubjectIdsFrom(${job.entity}) (job ${jobId}); the job was written by ` +
      'a different version of the app, or by hand.');
  }
  const coalescer = deps.enqueuer.coalescer(machine.name, 'find-subjects');
  const claim = await coalescer.claim(`${job.entity}:${job.id}`, job.gen, jobId);
  annotate({ [ATTR.entity]: job.entity, [ATTR.entityId]: job.id });
  if (claim.superseded) return 'superseded';
  linkOrigins(originsOf(claim.data), job.trace);

  const changedKeys = Object.keys(claim.data).filter((f) => f.startsWith(KEY_FIELD)).map((f) => f.slice(KEY_FIELD.length));
  annotate({ [ATTR.changedKeys]: changedKeys });
  const row = (await deps.adapter.load(listener.entity, [job.id])).get(job.id);
  let entity: object;
  let change: Change;
  if (row) {
    entity = row;
    change = { op: claim.data[`${OP_FIELD}insert`] ? 'insert' : 'update', changedKeys };
  } else if (claim.data[SNAPSHOT_FIELD]) {
    entity = JSON.parse(claim.data[SNAPSHOT_FIELD]);
    change = { op: 'remove', changedKeys };
  } else {
    deps.logger.warn(
      `${machine.className}: ${job.entity} ${job.id} is gone and no snapshot of it was captured, so its subjects ` +
      `cannot be found; resync(${machine.className}) if its subjects changed.`);
    await coalescer.release(jobId);
    return 'vanished';
  }

  const result = await callHook(machine, listener.mapper!, `subject_ids_from ${job.entity}`, [entity, change],
    { entity: job.entity, id: job.id });
  const subjectIds = normalizeIds(result, machine, listener.mapper!, job.entity, job.id);
  await deps.enqueuer.ensurePublication(machine.name, subjectIds.map((subjectId) => ({ subjectId })));
  await coalescer.release(jobId);
  return 'mapped';
}

function normalizeIds(result: unknown, machine: MachineDefinition, method: string, entity: string, id: string): string[] {
  if (result === undefined || result === null) return [];
  const list = Array.isArray(result) ? result : [result];
  return [...new Set(list.map((value) => {
    if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'bigint' ||
        (typeof value === 'string' && value.length > 0)) {
      return String(value);
    }
    throw new HookError(
      `${machine.className}.${method} returned ${typeof value === 'object' ? JSON.stringify(value) : String(value)} ` +
      `among the subject ids for ${entity} ${id}: return ${machine.subjectInfo.name} ids (numbers or strings), an array of them, or nothing.`);
  }))];
}
