import type { MachineDefinition } from '../metadata/machine-definition';
import type { CapturedChange, EntityClass } from '../ports';
import type { Enqueuer } from './enqueuer';
import { lookupItem } from './find-subjects';
import { encodeRequest, EncodedRequest } from './requests';

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
    const publications: Array<[string, EncodedRequest]> = [];
    const lookups: Array<[string, EncodedRequest]> = [];
    for (const change of changes) {
      const listener = machine.listeners.find((l) => l.entity === change.entity);
      if (!listener) continue;
      if (change.op === 'update' && listener.fields && !change.changedKeys.some((k) => listener.fields!.includes(k))) {
        continue;
      }
      if (listener.mapper === undefined) {
        publications.push([change.id, encodeRequest({})]);
        continue;
      }
      lookups.push([lookupItem(listener.info.name, change.id),
        encodeRequest({ op: change.op, changedKeys: change.changedKeys, snapshot: change.snapshot })]);
    }
    await Promise.all([
      this.enqueuer.request(machine.name, 'ensure-publication', publications, true),
      this.enqueuer.request(machine.name, 'find-subjects', lookups, true),
    ]);
  }
}
