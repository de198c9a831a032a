/**
 * Log lines about the items of a batch, said together: a stall, a failing partner or a migration makes the same line
 * for every item of a batch (190, 2,136 and 10,000 lines in trials). Items are kept per key (a machine's step) and
 * said in one call of `say` when their batch ends (sayNow), or `windowMs` after the first, whichever is first.
 */
export class SaidTogether<K extends object, T> {
  private readonly kept = new WeakMap<K, T[]>();

  constructor(private readonly windowMs: number, private readonly say: (key: K, items: T[]) => void) {}

  add(key: K, item: T): void {
    let items = this.kept.get(key);
    if (!items) {
      this.kept.set(key, items = []);
      setTimeout(() => this.sayNow(key), this.windowMs).unref();
    }
    items.push(item);
  }

  /** Says what was kept for `key` and not said yet. */
  sayNow(key: K): void {
    const items = this.kept.get(key);
    if (!items) return;
    this.kept.delete(key);
    this.say(key, items);
  }
}
