import { expect } from 'chai';
import { Semaphore, type Withdrawable, Withdrawn } from '../../lib/pipeline/semaphore';

describe('Semaphore', () => {
  it('runs at most `size` tasks at once, the rest in the order they came, and again after it emptied', async () => {
    const slots = new Semaphore(3);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const task = (i: number) => slots.run(async () => {
      started.push(i);
      running += 1;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, i % 4));
      running -= 1;
      return i;
    });
    for (let pass = 0; pass < 2; pass++) {
      started.length = 0;
      const ids = Array.from({ length: 200 }, (_, i) => i);
      expect(await Promise.all(ids.map(task))).to.deep.equal(ids);
      expect(started).to.deep.equal(ids);
      expect(most).to.equal(3);
      expect(running).to.equal(0);
    }
  });

  it('frees the slot of a task that throws', async () => {
    const slots = new Semaphore(1);
    await slots.run(async () => { throw new Error('boom'); }).catch(() => undefined);
    expect(await slots.run(async () => 'next')).to.equal('next');
  });

  it('withdraws the last withdrawable waiting tasks, which never run; the others keep their turn and slots', async () => {
    const slots = new Semaphore(2);
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const started: number[] = [];
    const task = (i: number, withdrawable: Withdrawable) => slots.run(async () => {
      started.push(i);
      if (i < 2) await held;
      return i;
    }, withdrawable).catch((error: unknown) => (error instanceof Withdrawn ? `withdrawn ${i}` : Promise.reject(error)));
    // 0 and 1 hold the slots; 2..9 wait, 5 not withdrawable, 3 only as a last resort, 9 only at the end.
    const results = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => task(i, i === 5 ? false : i === 3 ? 'lastResort' : i === 9 ? 'final' : 'always'));
    expect(slots.queued).to.equal(8);
    expect(slots.withdrawLast(3)).to.equal(3); // 8, 7, 6 (9 is passed over)
    expect(slots.withdrawLast(5)).to.equal(2); // 4, then 2 (5 and 3 are passed over)
    expect(slots.queued).to.equal(3);
    expect(slots.withdrawLast(0, 'lastResort')).to.equal(0);
    expect(slots.withdrawLast(5, 'lastResort')).to.equal(1); // 3 (9 is passed over)
    expect(slots.queued).to.equal(2);
    expect(slots.withdrawLast(5, 'final')).to.equal(1); // 9
    expect(slots.queued).to.equal(1);
    release();
    expect(await Promise.all(results)).to.deep.equal([0, 1, 'withdrawn 2', 'withdrawn 3', 'withdrawn 4', 5, 'withdrawn 6', 'withdrawn 7', 'withdrawn 8', 'withdrawn 9']);
    expect(started).to.deep.equal([0, 1, 5]);
    expect(slots.queued).to.equal(0);
    // Both slots are free again: two tasks run at once.
    let running = 0;
    let most = 0;
    await Promise.all([1, 2, 3].map(() => slots.run(async () => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5));
      running -= 1;
    })));
    expect(most).to.equal(2);
  });
});
