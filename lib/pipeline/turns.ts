/**
 * Work that goes one at a time, each piece on a fresh turn of the event loop, where the driver's queries run on
 * the loop (better-sqlite3); elsewhere it runs as it comes. The reads of a batch (its rows, its stored digests):
 * interleaved, the reads of the runs in flight finished together and held the loop all that time, so Redis'
 * answers to the other runs (their take, their finish) waited behind them and the runs went in lockstep with
 * idle gaps between; in turns, one run's Redis calls go on while another reads. The takes of a step's runs
 * (worker.ts): takes sent together were answered together, and the first batch waited for all of them.
 */
export class Turns {
  private last: Promise<unknown> = Promise.resolve();

  constructor(private readonly oneAtATime: boolean) {}

  run<T>(work: () => Promise<T>): Promise<T> {
    if (!this.oneAtATime) return work();
    const turn = this.last.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(work);
    this.last = turn.catch(() => undefined);
    return turn;
  }
}
