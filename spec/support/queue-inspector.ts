import type Redis from 'ioredis';
import { decodeRequest, PendingRequest } from '../../lib/pipeline/requests';
import { ingestInbox } from '../../lib/pipeline/work-queue';
import { KeySpace, Step } from '../../lib/redis/keys';

/** Reading what capture left in Redis, the same way for every ORM's write-path spec. */
export function queueInspector(redis: () => Redis, prefix: string, machines: string[]) {
  const [defaultMachine] = machines;
  const keys = new KeySpace(prefix);

  /** Items pending in one step (`<Entity>:<id>` for find-subjects, subject ids for ensure-publication), oldest first. */
  async function waiting(step: Step, machine = defaultMachine): Promise<string[]> {
    // A commit's bare items wait in the inbox until a take (or this) sorts them in.
    await ingestInbox(redis(), keys.step(machine, step));
    return redis().zrange(keys.step(machine, step).pending, 0, -1);
  }

  /** Run tickets (Bee-Queue jobs) waiting in one step's queue. */
  async function tickets(step: Step, machine = defaultMachine): Promise<number> {
    return redis().llen(keys.queueKey(machine, step, 'waiting'));
  }

  /** The merged, not yet taken request of one item, decoded. */
  async function pending(step: Step, item: string, machine = defaultMachine): Promise<PendingRequest> {
    const k = keys.step(machine, step);
    await ingestInbox(redis(), k);
    const [raw, score] = await Promise.all([redis().hget(k.requests, item), redis().zscore(k.pending, item)]);
    if (score === null) throw new Error(`${item} is not pending in ${machine} ${step}`);
    // An item whose requests carried nothing keeps no request entry (the take makes one from its score).
    return decodeRequest(raw ?? '{}', item);
  }

  async function everythingWaiting(): Promise<string[]> {
    const all: string[] = [];
    for (const machine of machines) {
      for (const step of ['find-subjects', 'ensure-publication'] as const) {
        all.push(...(await waiting(step, machine)).map((item) => `${machine} ${step} ${item}`));
      }
    }
    return all;
  }

  return { waiting, tickets, pending, everythingWaiting };
}
