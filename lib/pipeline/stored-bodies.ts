import type { PayloadStore } from '../ports';

/**
 * The stored bodies of a batch's subjects, for `previous`: read with one query when the batch's first publish (or
 * unpublish) asks, for every subject of the batch not known unchanged by then. An unchanged subject never needs
 * its body, and most of a resync is unchanged: read with the digests, they made that read a fifth slower.
 */
export class StoredBodies {
  private readonly wanted: Set<string>;
  private read?: { ids: Set<string>; bodies: Promise<Map<string, string>> };

  /** `stored`: the subjects of the batch that have a stored payload. */
  constructor(private readonly store: PayloadStore, private readonly machine: string, stored: Iterable<string>) {
    this.wanted = new Set(stored);
  }

  /** This subject needs no body: it is unchanged. */
  skip(id: string): void {
    if (!this.read) this.wanted.delete(id);
  }

  /** The subject's stored body; undefined when it has none. */
  async of(id: string): Promise<string | undefined> {
    this.read ??= { ids: this.wanted, bodies: this.store.findBodies(this.machine, [...this.wanted]) };
    // Asked for after the read began and not in it (skipped, then needed after all): read alone.
    if (!this.read.ids.has(id)) return (await this.store.findBodies(this.machine, [id])).get(id);
    return (await this.read.bodies).get(id);
  }
}
