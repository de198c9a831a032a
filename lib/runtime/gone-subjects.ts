import type { MachineDefinition } from '../metadata/machine-definition';
import type { OrmAdapter, StoredWithoutRow } from '../ports';

/*
 * A row removed where no capture saw it (raw SQL, a database cascade) leaves its subject published, and a walk
 * over the entity's rows cannot find it. A full resync or reconcile walks the machine's stored subjects after its
 * rows, for those without one.
 */

/** Ids a walk keeps in memory (a few MB) to tell the stored subjects without a row without a query. */
const SEEN_KEPT = 100_000;
/** Stored subject ids read per page (ids only, no hydration). */
const STORED_PAGE = 5_000;

/** The row ids a walk went through, while few enough to keep, where the database cannot find the gone itself. */
export class SeenIds {
  private ids: Set<string> | undefined;
  /** The adapter's query of the stored subjects without a row, if it has one for this machine. */
  readonly query: StoredWithoutRow | undefined;

  /** For a full walk over `machine`'s subjects; it keeps nothing when the adapter has storedWithoutRow for them. */
  constructor(adapter: OrmAdapter, machine: MachineDefinition) {
    this.query = adapter.storedWithoutRow?.(machine.subject, machine.name);
    this.ids = this.query ? undefined : new Set();
  }

  add(ids: string[]): void {
    if (!this.ids) return;
    for (const id of ids) this.ids.add(id);
    if (this.ids.size > SEEN_KEPT) this.ids = undefined;
  }

  /** The ids, or undefined once there were too many to keep. */
  get all(): ReadonlySet<string> | undefined {
    return this.ids;
  }
}

/**
 * Pages of the machine's stored subjects that have no row: the adapter's query where it has one; otherwise the
 * stored ids checked against `seen`, or, past what it keeps, with the adapter's read of which have one (none
 * without presentIds). A subject whose row came after the walk may be among them: a run finds it there.
 */
export async function* goneSubjects(adapter: OrmAdapter, machine: MachineDefinition, seen: SeenIds): AsyncGenerator<string[]> {
  let after: string | undefined;
  if (seen.query) {
    for (;;) {
      const gone = await seen.query(after, STORED_PAGE);
      if (gone.length > 0) yield gone;
      if (gone.length < STORED_PAGE) return;
      after = gone[gone.length - 1];
    }
  }
  if (!seen.all && !adapter.presentIds) return;
  for (;;) {
    const stored = await adapter.payloads.pageSubjectIds(machine.name, after, STORED_PAGE);
    if (stored.length === 0) return;
    after = stored[stored.length - 1];
    const present = seen.all ?? await adapter.presentIds!(machine.subject, stored);
    const gone = stored.filter((id) => !present.has(id));
    if (gone.length > 0) yield gone;
  }
}
