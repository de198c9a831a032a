/** How long an item of a batch waits at most for the others before its entry is written anyway. */
export const STORE_WAIT_MS = 100;

/** One item's part in a StoreBatch: `save` at most once, `end` when the item ends (also after a save). */
export interface StoreSlot<E> {
  save(entry: E): Promise<void>;
  end(): void;
}

/**
 * The writes of one batch's items, made together: the stores of its publishes (an upsert per subject cost a
 * database round trip each, most of a changed subject's time beside its publish), the requests its changed rows
 * map to. A saved entry waits until every other item of the batch has saved or ended, or STORE_WAIT_MS passed, so
 * a slow item (a publish, a lookup that hangs) delays the others' writes only briefly. `write` writes the entries
 * it keeps and returns an error for each entry it refused.
 */
export class StoreBatch<E> {
  private open: number;
  private waiting: Array<{ entry: E; resolve(): void; reject(error: unknown): void }> = [];
  private timer?: NodeJS.Timeout;

  constructor(items: number, private readonly write: (entries: E[]) => Promise<Map<E, Error>>) {
    this.open = items;
  }

  /** An item that ended without a slot (it had nothing to store). */
  skip(): void {
    this.open -= 1;
    this.schedule();
  }

  slot(): StoreSlot<E> {
    let ended = false;
    const end = () => {
      if (ended) return false;
      ended = true;
      this.open -= 1;
      return true;
    };
    return {
      save: (entry) => {
        if (!end()) throw new Error('StoreBatch: a save after its item ended');
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
        const error = refused.get(w.entry);
        if (error) w.reject(error);
        else w.resolve();
      }
    }, (error: unknown) => {
      for (const w of batch) w.reject(error);
    });
  }
}
