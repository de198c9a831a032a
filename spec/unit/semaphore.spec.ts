import { expect } from 'chai';
import { Semaphore } from '../../lib/pipeline/semaphore';

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
});
