/**
 * Hooks of one ORM call handled together. TypeORM calls a hook for each row of an insert() or remove() of many rows
 * in one synchronous loop and then awaits them all: a batch opened by the first of them collects the rest, and is
 * flushed on the next microtask, after the loop; every hook of it awaits that flush. One batch per key at a time.
 */
export class TurnBatches<K, B> {
  private readonly open = new Map<K, { batch: B; done: Promise<void> }>();

  constructor(private readonly create: () => B, private readonly flush: (key: K, batch: B) => Promise<void>) {}

  /** The batch of `key` collecting in this turn (opened if there is none), and its flush. */
  join(key: K): { batch: B; done: Promise<void> } {
    let joined = this.open.get(key);
    if (!joined) {
      const batch = this.create();
      const done = Promise.resolve().then(() => {
        this.open.delete(key);
        return this.flush(key, batch);
      });
      this.open.set(key, joined = { batch, done });
    }
    return joined;
  }
}
