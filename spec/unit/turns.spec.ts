import { expect } from 'chai';
import { Turns } from '../../lib/pipeline/turns';
import { RunsInFlight } from '../../lib/pipeline/runs-in-flight';

/** A read that holds the event loop for `ms`, as a better-sqlite3 query does, and logs its start and end. */
function blockingRead(log: string[], name: string, ms: number, fail = false): () => Promise<string> {
  return async () => {
    log.push(`${name} start`);
    const until = Date.now() + ms;
    while (Date.now() < until) { /* the driver works on the event loop */ }
    await Promise.resolve(); // an ORM's awaits between its queries: microtasks only
    log.push(`${name} end`);
    if (fail) throw new Error(`${name} failed`);
    return name;
  };
}

describe('read turns of runs', () => {
  it('over a driver that blocks the loop: one read at a time, and what is queued for the loop runs between reads', async () => {
    const turns = new Turns(true);
    const log: string[] = [];
    // Stands for a Redis answer to another run, arriving while the first read holds the loop.
    const answered = new Promise<void>((resolve) => setImmediate(() => { log.push('redis answer'); resolve(); }));
    const a = blockingRead(log, 'a', 15);
    const readA = () => {
      setImmediate(() => log.push('answer that came during a'));
      return a();
    };
    const reads = await Promise.all([turns.run(readA), turns.run(blockingRead(log, 'b', 5)), answered]);
    expect(reads.slice(0, 2)).to.deep.equal(['a', 'b']);
    expect(log).to.deep.equal(['redis answer', 'a start', 'a end', 'answer that came during a', 'b start', 'b end']);
  });

  it('a failed read rejects its own run only; the next turn still comes', async () => {
    const turns = new Turns(true);
    const log: string[] = [];
    const [first, second] = await Promise.allSettled([turns.run(blockingRead(log, 'a', 1, true)), turns.run(blockingRead(log, 'b', 1))]);
    expect(first).to.deep.include({ status: 'rejected' });
    expect((first as PromiseRejectedResult).reason.message).to.equal('a failed');
    expect(second).to.deep.equal({ status: 'fulfilled', value: 'b' });
  });

  it('over a driver with its own I/O: reads run as they come, interleaved', async () => {
    const turns = new Turns(false);
    const log: string[] = [];
    const read = (name: string) => async () => {
      log.push(`${name} start`);
      await new Promise((r) => setTimeout(r, 5));
      log.push(`${name} end`);
    };
    await Promise.all([turns.run(read('a')), turns.run(read('b'))]);
    expect(log.slice(0, 2)).to.deep.equal(['a start', 'b start']);
  });
});

describe('runs in flight', () => {
  it('counts a run until it settles, rejected ones too', async () => {
    const runs = new RunsInFlight();
    let finish!: () => void;
    const run = runs.track(new Promise<void>((resolve) => { finish = resolve; }));
    const failed = runs.track(Promise.reject(new Error('no'))).catch(() => 'caught');
    expect(runs.size).to.equal(2);
    expect(await failed).to.equal('caught');
    finish();
    await run;
    expect([runs.size, runs.ended]).to.deep.equal([0, 2]);
  });

  it('a pause ends when a run ends, at once when one ended since the look began, else after its time', async () => {
    const runs = new RunsInFlight();
    let finish!: () => void;
    const run = runs.track(new Promise<void>((resolve) => { finish = resolve; }));
    const seen = runs.ended;
    let started = performance.now();
    setTimeout(finish, 20);
    await runs.nextEnd(5_000, seen);
    expect(performance.now() - started, 'woken by the end').to.be.within(15, 1_000);
    await run;

    started = performance.now();
    await runs.nextEnd(5_000, seen); // ended since `seen`: no wait
    expect(performance.now() - started).to.be.below(50);

    started = performance.now();
    await runs.nextEnd(30, runs.ended);
    expect(performance.now() - started, 'nothing ended: its time').to.be.within(25, 1_000);
  });
});
