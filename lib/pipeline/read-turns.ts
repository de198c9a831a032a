/**
 * The reads of a batch (its rows, its stored digests) over a driver whose queries run on the event loop
 * (better-sqlite3): one batch reads at a time, each starting on a fresh turn of the loop. Interleaved, the reads of
 * the runs in flight finished together and held the loop all that time, so Redis' answers to the other runs
 * (their take, their finish) waited behind them and the runs went in lockstep with idle gaps between. In turns,
 * one run's Redis calls go on while another reads. Reads over a driver with its own I/O run as they come.
 * The takes of a step's runs go in turns the same way there (worker.ts).
 */
export class ReadTurns {
  private last: Promise<unknown> = Promise.resolve();

  constructor(private readonly oneAtATime: boolean) {}

  run<T>(read: () => Promise<T>): Promise<T> {
    if (!this.oneAtATime) return read();
    const turn = this.last.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(read);
    this.last = turn.catch(() => undefined);
    return turn;
  }
}
