import { SpanKind } from '@opentelemetry/api';
import type Redis from 'ioredis';
import type { MachineDefinition } from '../metadata/machine-definition';
import type { KeySpace, Step } from '../redis/keys';
import { ATTR, currentCarrier, traced } from '../tracing';
import type { EncodedRequest } from './requests';
import { WorkQueue } from './work-queue';

/** Records requests in the work sets of every machine's steps: one script call per machine and step. */
export class Enqueuer {
  private readonly queues = new Map<string, WorkQueue>();
  /**
   * Called as requests go out to Redis: this process' idle runs of that step take them at once (runtime wiring).
   * Their take follows the mark on the same connection, so it finds them; woken on Redis' answer instead, the first
   * take of an unchanged resync went out a round trip later, behind the marks of the pages read meanwhile.
   */
  onMarked?: (machine: string, step: Step) => void;

  constructor(redis: Redis, private readonly keys: KeySpace, machines: MachineDefinition[]) {
    for (const machine of machines) {
      for (const step of ['find-subjects', 'ensure-publication'] as const) {
        this.queues.set(`${machine.name}\n${step}`, new WorkQueue(redis, keys, machine.name, step, machine.batching));
      }
    }
  }

  work(machine: string, step: Step): WorkQueue {
    const queue = this.queues.get(`${machine}\n${step}`);
    if (!queue) throw new Error(`no ${step} work queue for machine ${machine}`);
    return queue;
  }

  /**
   * Records the requests inside a producer span; a request that names no origin gets this span's context, which
   * the run's span then continues (W3C traceparent). `commit`: they are a commit's, which waits for them (see
   * WorkQueue.mark).
   */
  async request(
    machine: string, step: Step, requests: Array<[item: string, request: EncodedRequest]>, commit = false,
  ): Promise<void> {
    if (requests.length === 0) return;
    const mark = async (marked: Array<[string, EncodedRequest]>) => {
      await this.work(machine, step).mark(marked, commit, () => this.onMarked?.(machine, step));
    };
    // Requests that each name their origin (a find-subjects run's, under its row's own producer span) continue no
    // span made here: one would show as a message sent and never consumed (a trial's trace viewer).
    if (requests.every(([, r]) => r.parent)) return mark(requests);
    const destination = `${this.keys.prefix}:${this.keys.queueName(machine, step)}`;
    await traced(`send ${destination}`, {
      [ATTR.machine]: machine, [ATTR.messagingSystem]: 'bee-queue', [ATTR.messagingOperation]: 'send',
      [ATTR.messagingDestination]: destination, [ATTR.messagingBatchCount]: requests.length,
    }, async () => {
      const { traceparent } = currentCarrier();
      const traced = traceparent
        ? requests.map(([item, r]): [string, EncodedRequest] =>
          [item, r.parent ? r : { ...r, parent: traceparent, [`tp:${traceparent}`]: '1' }])
        : requests;
      await mark(traced);
    }, { kind: SpanKind.PRODUCER });
  }
}
