import type { Listener, MachineDefinition } from '../metadata/machine-definition';
import type { CapturedChange, EntityClass } from '../ports';
import type { Enqueuer } from './enqueuer';
import { lookupItem } from './find-subjects';
import { BARE_REQUEST, encodeRequest, EncodedRequest } from './requests';

/** Turns committed changes into FindSubjects or (for a machine's own subject) EnsurePublication requests. */
export class ChangeRouter {
  readonly watched: ReadonlySet<EntityClass>;
  /** The entities whose every listener names its fields, with their union (CaptureOptions.fields). */
  readonly fields: ReadonlyMap<EntityClass, ReadonlySet<string>>;
  /** Each machine with its listener of each entity: looked up once per change, in the commit's wait. */
  private readonly routes: Array<{ machine: MachineDefinition; listeners: Map<EntityClass, Listener> }>;

  constructor(machines: MachineDefinition[], private readonly enqueuer: Enqueuer) {
    this.watched = new Set(machines.flatMap((m) => m.listeners.map((l) => l.entity)));
    const listeners = machines.flatMap((m) => m.listeners);
    const fields = new Map<EntityClass, Set<string>>();
    for (const entity of this.watched) {
      const of = listeners.filter((l) => l.entity === entity);
      if (of.every((l) => l.fields)) fields.set(entity, new Set(of.flatMap((l) => l.fields!)));
    }
    this.fields = fields;
    // One listener per entity and machine: start() refuses a second @ListenTo of it.
    this.routes = machines.map((machine) => ({ machine, listeners: new Map(machine.listeners.map((l) => [l.entity, l])) }));
  }

  async route(changes: CapturedChange[]): Promise<void> {
    await Promise.all(this.routes.map(({ machine, listeners }) => this.routeFor(machine, listeners, changes)));
  }

  private async routeFor(machine: MachineDefinition, listeners: Map<EntityClass, Listener>, changes: CapturedChange[]): Promise<void> {
    const publications: Array<[string, EncodedRequest]> = [];
    const lookups: Array<[string, EncodedRequest]> = [];
    // Indexed: once per commit, mostly unoptimized, where `for...of` made an iterator result per change.
    for (let i = 0; i < changes.length; i++) {
      const change = changes[i];
      const listener = listeners.get(change.entity);
      if (!listener) continue;
      if (change.op === 'update' && listener.fields && !change.changedKeys.some((k) => listener.fields!.includes(k))) {
        continue;
      }
      // An entity holds its key as the app set it: an upper-case uuid, where the database takes it in any case, is the
      // subject its rows (read in lower case) are, not a second one.
      const id = listener.info.keyKind === 'uuid' ? change.id.toLowerCase() : change.id;
      if (listener.mapper === undefined) {
        publications.push([id, change.op === 'remove' ? REMOVED : BARE_REQUEST]);
        continue;
      }
      lookups.push([lookupItem(listener.info.name, id),
        encodeRequest({ op: change.op, changedKeys: change.changedKeys, snapshot: change.snapshot, before: change.before })]);
    }
    await Promise.all([
      this.enqueuer.request(machine.name, 'ensure-publication', publications, true),
      this.enqueuer.request(machine.name, 'find-subjects', lookups, true),
    ]);
  }
}

/**
 * A subject's own removal: its run, finding the row gone with nothing stored (a draft never published), has nothing
 * to say, where a gone row of any other request may be one its load does not find (a trial's cleanup of drafts read
 * "If such a row is in the database, the machine's load does not find it" on every batch).
 */
const REMOVED: EncodedRequest = Object.freeze(encodeRequest({ op: 'remove' }));
