import type Redis from 'ioredis';
import type BeeQueue from 'bee-queue';
import { SyncMachineError } from '../errors';
import { KeySpace, Step } from '../redis/keys';
import { SpanKind } from '@opentelemetry/api';
import { ATTR, currentCarrier, traced } from '../tracing';
import { Coalescer, jobIdFor, MarkRequest, ORIGIN_FIELD } from './coalescer';
import type { EnsurePublicationJob, FindSubjectsJob } from './job-data';
import type { QueueSet } from './queues';

export interface FindSubjectsRequest {
  entity: string;
  id: string;
  fields: Record<string, string>;
}

export interface PublicationRequest {
  subjectId: string;
  force?: boolean;
}

/** Marks requests for coalescing, then saves at most one job per item and generation. */
export class Enqueuer {
  private readonly coalescers = new Map<string, Coalescer>();

  constructor(private readonly redis: Redis, private readonly keys: KeySpace, private readonly queues: QueueSet) {}

  coalescer(machine: string, step: Step): Coalescer {
    const key = `${machine}\n${step}`;
    let coalescer = this.coalescers.get(key);
    if (!coalescer) {
      coalescer = new Coalescer(this.redis, this.keys.coalescing(machine, step));
      this.coalescers.set(key, coalescer);
    }
    return coalescer;
  }

  async findSubjects(machine: string, requests: FindSubjectsRequest[]): Promise<void> {
    await this.enqueue(machine, 'find-subjects',
      requests.map((r) => ({ item: `${r.entity}:${r.id}`, fields: r.fields })),
      (i, gen, trace): FindSubjectsJob => ({ v: 1, machine, entity: requests[i].entity, id: requests[i].id, gen, trace }));
  }

  async ensurePublication(machine: string, requests: PublicationRequest[]): Promise<void> {
    await this.enqueue(machine, 'ensure-publication',
      requests.map((r) => ({ item: r.subjectId, fields: r.force ? { force: '1' } : undefined })),
      (i, gen, trace): EnsurePublicationJob => ({ v: 1, machine, subjectId: requests[i].subjectId, gen, trace }));
  }

  /** Re-delays a job that found its subject locked; same generation, so it still covers its requests. */
  async reschedule(job: EnsurePublicationJob, delayMs: number): Promise<void> {
    const reschedules = (job.reschedules ?? 0) + 1;
    const queue = this.queues.get(job.machine, 'ensure-publication');
    await queue.createJob({ ...job, reschedules })
      .setId(`${jobIdFor(job.subjectId, job.gen)}~${reschedules}`)
      .delayUntil(Date.now() + delayMs)
      .save();
  }

  private async enqueue(
    machine: string, step: Step, requests: MarkRequest[],
    dataFor: (i: number, gen: string, trace: Record<string, string> | undefined) => object,
  ) {
    if (requests.length === 0) return;
    const queue: BeeQueue = this.queues.get(machine, step);
    const destination = `${this.keys.prefix}:${queue.name}`;
    await traced(`send ${destination}`, {
      [ATTR.machine]: machine, [ATTR.messagingSystem]: 'bee-queue', [ATTR.messagingOperation]: 'send',
      [ATTR.messagingDestination]: destination, [ATTR.messagingBatchCount]: requests.length,
    }, async () => {
      // The producer span's context travels in the job data, and in the pending hash for requests that coalesce.
      const carrier = currentCarrier();
      const origin = carrier.traceparent ? { [`${ORIGIN_FIELD}${carrier.traceparent}`]: '1' } : undefined;
      const marked = origin ? requests.map((r) => ({ ...r, fields: { ...r.fields, ...origin } })) : requests;
      const { gens } = await this.coalescer(machine, step).mark(marked);
      const trace = origin ? carrier : undefined;
      const byId = new Map<string, object>();
      requests.forEach((request, i) => {
        const id = jobIdFor(request.item, gens[i]);
        if (!byId.has(id)) byId.set(id, dataFor(i, gens[i], trace)); // same item twice in one batch: one job
      });
      const refused = await this.save(queue, machine, step, byId);
      if (refused.length === 0) return;
      // Refused ids belong to jobs that will run, except one that failed for good before it claimed its
      // generation: requests must not wait on it, so they get a stand-in job (one per minute at most).
      const failedKey = this.keys.queueKey(machine, step, 'failed');
      const pipeline = this.redis.pipeline(); // SISMEMBER each, not SMISMEMBER: that needs Redis 6.2
      for (const id of refused) pipeline.sismember(failedKey, id);
      const failed = (await pipeline.exec()) ?? [];
      const minute = Math.floor(Date.now() / 60_000);
      const standIns = new Map(refused.filter((_, i) => failed[i]?.[1] === 1).map((id) => [`${id}+${minute}`, byId.get(id)!]));
      if (standIns.size > 0) await this.save(queue, machine, step, standIns);
    }, { kind: SpanKind.PRODUCER });
  }

  /** Saves the jobs; resolves the ids Bee-Queue refused because a job with that id exists. */
  private async save(queue: BeeQueue, machine: string, step: Step, byId: Map<string, object>): Promise<string[]> {
    const jobs = [...byId].map(([id, data]) => ({ id, job: queue.createJob(data).setId(id) }));
    const errors = await queue.saveAll(jobs.map((j) => j.job));
    if (errors.size > 0) {
      const [first] = errors.values();
      throw new SyncMachineError(`${errors.size} of ${jobs.length} ${step} jobs of ${machine} were not saved: ${first.message}`,
        { cause: first });
    }
    return jobs.filter((j) => j.job.id === null).map((j) => j.id); // Bee-Queue sets a refused job's id to null
  }
}
