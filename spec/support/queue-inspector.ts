import type Redis from 'ioredis';
import type { Step } from '../../lib/redis/keys';

/** Reading what capture left in Redis, the same way for every ORM's write-path spec. */
export function queueInspector(redis: () => Redis, prefix: string, machines: string[]) {
  const [defaultMachine] = machines;

  /** Job ids waiting in one queue, oldest first. */
  async function waiting(step: Step, machine = defaultMachine): Promise<string[]> {
    return (await redis().lrange(`${prefix}:${machine}:${step}:waiting`, 0, -1)).reverse();
  }

  async function jobData(step: Step, id: string, machine = defaultMachine): Promise<Record<string, unknown> | undefined> {
    const raw = await redis().hget(`${prefix}:${machine}:${step}:jobs`, id);
    return raw === null ? undefined : JSON.parse(raw).data;
  }

  /** The merged, not yet claimed request data of one item's generation, without its timestamp. */
  async function pending(step: Step, item: string, gen = '0', machine = defaultMachine): Promise<Record<string, string>> {
    const { at, ...fields } = await redis().hgetall(`${prefix}:${machine}:${step}:co:p:${item}:${gen}`);
    void at;
    return fields;
  }

  async function everythingWaiting(): Promise<string[]> {
    const all: string[] = [];
    for (const machine of machines) {
      for (const step of ['find-subjects', 'ensure-publication'] as const) {
        all.push(...(await waiting(step, machine)).map((id) => `${machine} ${step} ${id}`));
      }
    }
    return all;
  }

  return { waiting, jobData, pending, everythingWaiting };
}

/** The changed-key (`k:`) or op (`op:`) flags of a pending hash, sorted. */
export function flags(fields: Record<string, string>, kindOf: 'k:' | 'op:'): string[] {
  return Object.keys(fields).filter((f) => f.startsWith(kindOf)).sort();
}
