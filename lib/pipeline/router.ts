import type { MachineDefinition } from '../metadata/machine-definition';
import type { CapturedChange, EntityClass } from '../ports';
import type { Enqueuer, FindSubjectsRequest, PublicationRequest } from './enqueuer';

/** Pending-hash fields of a FindSubjects request: changed keys and ops as flags, so merges are unions. */
export const KEY_FIELD = 'k:';
export const OP_FIELD = 'op:';
export const SNAPSHOT_FIELD = 'snapshot';

/** Turns committed changes into FindSubjects or (for a machine's own subject) EnsurePublication requests. */
export class ChangeRouter {
  readonly watched: ReadonlySet<EntityClass>;

  constructor(private readonly machines: MachineDefinition[], private readonly enqueuer: Enqueuer) {
    this.watched = new Set(machines.flatMap((m) => m.listeners.map((l) => l.entity)));
  }

  async route(changes: CapturedChange[]): Promise<void> {
    await Promise.all(this.machines.map((machine) => this.routeFor(machine, changes)));
  }

  private async routeFor(machine: MachineDefinition, changes: CapturedChange[]): Promise<void> {
    const publications: PublicationRequest[] = [];
    const lookups: FindSubjectsRequest[] = [];
    for (const change of changes) {
      const listener = machine.listeners.find((l) => l.entity === change.entity);
      if (!listener) continue;
      if (change.op === 'update' && listener.fields && !change.changedKeys.some((k) => listener.fields!.includes(k))) {
        continue;
      }
      if (listener.mapper === undefined) {
        publications.push({ subjectId: change.id });
        continue;
      }
      const fields: Record<string, string> = { [`${OP_FIELD}${change.op}`]: '1' };
      for (const key of change.changedKeys) fields[`${KEY_FIELD}${key}`] = '1';
      if (change.snapshot) fields[SNAPSHOT_FIELD] = JSON.stringify(change.snapshot);
      lookups.push({ entity: listener.info.name, id: change.id, fields });
    }
    await Promise.all([
      this.enqueuer.ensurePublication(machine.name, publications),
      this.enqueuer.findSubjects(machine.name, lookups),
    ]);
  }
}
