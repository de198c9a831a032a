import type { PublishedPayload } from '../ports';

/** How long a publish of a batch waits at most for the others before its store is written anyway. */
export const STORE_WAIT_MS = 100;

/** One item's part in a StoreBatch: `save` at most once, `end` when the item ends (also after a save). */
export interface StoreSlot {
  save(entry: PublishedPayload): Promise<void>;
  end(): void;
}

/**
 * The stores of one batch's publishes, written together: an upsert per subject cost a database round trip each,
 * most of a changed subject's time beside its publish. A saved publish waits until every other item of the
 * batch has saved or ended, or STORE_WAIT_MS passed, so a slow publish delays the others' stores only briefly.
 * `write` stores the entries it keeps and returns an error for each entry it refused.
 */
export class StoreBatch {
  private open: number;
  private waiting: Array<{ entry: PublishedPayload; resolve(): void; reject(error: unknown): void }> = [];
  private timer?: NodeJS.Timeout;

  constructor(items: number, private readonly write: (entries: PublishedPayload[]) => Promise<Map<string, Error>>) {
    this.open = items;
  }

  /** An item that ended without a slot (it had nothing to store). */
  skip(): void {
    this.open -= 1;
    this.schedule();
  }

  slot(): StoreSlot {
    let ended = false;
    const end = () => {
      if (ended) return false;
      ended = true;
      this.open -= 1;
      return true;
    };
    return {
      save: (entry) => {
        if (!end()) throw new Error(`StoreBatch: a save for ${entry.subjectId} after its item ended`);
        const stored = new Promise<void>((resolve, reject) => this.waiting.push({ entry, resolve, reject }));
        this.schedule();
        return stored;
      },
      end: () => {
        if (end()) this.schedule();
      },
    };
  }

  private schedule(): void {
    if (this.waiting.length === 0) return;
    if (this.open === 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), STORE_WAIT_MS);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting.splice(0);
    if (batch.length === 0) return;
    this.write(batch.map((w) => w.entry)).then((refused) => {
      for (const w of batch) {
        const error = refused.get(w.entry.subjectId);
        if (error) w.reject(error);
        else w.resolve();
      }
    }, (error: unknown) => {
      for (const w of batch) w.reject(error);
    });
  }
}
