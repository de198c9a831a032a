/** The two pipeline steps; each has its own Bee-Queue queue per machine. */
export type Step = 'find-subjects' | 'ensure-publication';

/** Every Redis key and queue name, in one place, under the runtime's prefix. */
export class KeySpace {
  constructor(readonly prefix: string) {}

  /** Bee-Queue adds its own `prefix:` in front. */
  queueName(machine: string, step: Step): string {
    return `${machine}:${step}`;
  }

  /** Namespace of the coalescing state of one step. */
  coalescing(machine: string, step: Step): string {
    return `${this.prefix}:${machine}:${step}:co`;
  }

  lock(machine: string, subjectId: string): string {
    return `${this.prefix}:${machine}:lock:${subjectId}`;
  }

  /** Hash of outcome counters, read by the demo and `status`. */
  stats(machine: string): string {
    return `${this.prefix}:${machine}:stats`;
  }

  /** A key Bee-Queue keeps for one queue: `waiting`, `active`, `delayed`, `failed`, `jobs`, ... */
  queueKey(machine: string, step: Step, suffix: string): string {
    return `${this.prefix}:${this.queueName(machine, step)}:${suffix}`;
  }

  /** Capped list of the latest publishes (`<ms> <subject id>`, newest first), read by `status`. */
  recentPublishes(machine: string): string {
    return `${this.prefix}:${machine}:published`;
  }
}
