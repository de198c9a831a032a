import { expect } from 'chai';
import { TypeOrmPayloadStore } from '../../adapters/typeorm/payload-store';
import type { PublishedPayload } from '../../lib/ports';
import { FAST_WORKER, Harness } from '../support/harness';

/**
 * The unpublishes of a batch are stored together, as its publishes are: each had a write of its own, made while it
 * held a publish slot, and a trial's 1,000 unpublishes ran at a quarter to half of its script's DELETE loop, where
 * its re-posts were even with it.
 */
describe('unpublishes of a batch (TypeORM, SQLite)', () => {
  let h: Harness;
  const writes: number[] = [];
  const save = TypeOrmPayloadStore.prototype.savePublished;
  beforeEach(async () => {
    h = await new Harness('sqlite', 'unpublish-store').setUp();
    // Counts the store's writes (rows per call); the write itself is the store's own.
    TypeOrmPayloadStore.prototype.savePublished = function (machine: string, rows: PublishedPayload[]) {
      writes.push(rows.length);
      return save.call(this, machine, rows);
    };
  });
  afterEach(async () => {
    TypeOrmPayloadStore.prototype.savePublished = save;
    writes.length = 0;
    await h.tearDown();
  });

  it('stores the unpublished rows of a batch of removed subjects with one write, after every @Unpublish call', async () => {
    const worker = await h.startWorker({ worker: { ...FAST_WORKER, concurrency: 20 } });
    const customer = await h.customer();
    const orders = [];
    for (let i = 0; i < 30; i++) orders.push(await h.order(customer));
    await worker.drain();
    await worker.close();
    const capture = await h.start();
    for (const order of orders) await h.w.removeOrder(order.id);
    await capture.close();
    writes.length = 0;
    const again = await h.startWorker({ worker: { ...FAST_WORKER, concurrency: 20 } });
    const drained = await again.drain();
    expect(drained.outcomes).to.deep.include({ unpublished: 30 });
    expect(h.api.deletes()).to.have.length(30);
    expect(writes, 'rows per write').to.deep.equal([30]);
  });
});
