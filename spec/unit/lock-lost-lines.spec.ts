import { expect } from 'chai';
import { LockLostError } from '../../lib/errors';
import { runItem, type ItemRunSettings } from '../../lib/pipeline/item-run';
import { MemoryLogger } from '../support/logger';

/** A batch whose run stalled past its locks: each item finds its lock taken over before it publishes. */
describe('lock lost before publishing, as logged', () => {
  function settings(logger: MemoryLogger): ItemRunSettings {
    return {
      machine: { className: 'ProductSync', name: 'ProductSync' } as ItemRunSettings['machine'], step: 'ensure-publication',
      queue: 'p:ProductSync:ensure-publication', spanName: 'process p:ProductSync:ensure-publication', logger,
      retry: { attempts: 3, initialDelayMs: 10 }, describe: (id) => `Product ${id}`,
      gate: {} as ItemRunSettings['gate'], closed: () => false,
    };
  }
  const lost = (s: ItemRunSettings, id: string) => runItem(s, { item: id, raw: '{"at":"1"}' }, async () => {
    throw new LockLostError(`the lock on ${id} was taken over after it expired`);
  });

  it('says the items of one stall in one line, not one line each', async () => {
    const logger = new MemoryLogger();
    const s = settings(logger);
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => lost(s, String(i + 1))));
    expect(results.map((r) => r[1])).to.deep.equal(Array(12).fill('requeue'));
    await new Promise((r) => setTimeout(r, 300));
    expect(logger.warnings()).to.deep.equal(['ensure-publication of ProductSync for Product 1, Product 2, Product 3, Product 4, ' +
      'Product 5, Product 6, Product 7, Product 8, Product 9, Product 10 and 2 more stopped before publishing: their locks ' +
      'were taken over after they expired (the first: the lock on 1 was taken over after it expired); they run again from ' +
      'current data. Raise worker.lockTtlMs if hooks are slow; a process stopped or paused for longer than it loses its locks too.']);
  });

  it('says a failure of ioredis giving up as Redis not answering, not as its option', async () => {
    const logger = new MemoryLogger();
    const gaveUp = Object.assign(new Error('Reached the max retries per request limit (which is 20). Refer to ' +
      '"maxRetriesPerRequest" option for details.'), { name: 'MaxRetriesPerRequestError' });
    const result = await runItem(settings(logger), { item: '3', raw: '{"at":"1"}' }, async () => { throw gaveUp; });
    // A trial's 980 failures of one outage read as ioredis' option.
    expect(result.slice(0, 3)).to.deep.equal(['3', 'failed', 'Redis did not answer while it ran (not connected: ioredis ' +
      'gave up on a command after its maxRetriesPerRequest tries)']);
  });

  it('says a lone one as itself', async () => {
    const logger = new MemoryLogger();
    await lost(settings(logger), '7');
    await new Promise((r) => setTimeout(r, 300));
    expect(logger.warnings()).to.deep.equal(['ensure-publication of ProductSync for Product 7 stopped before publishing: the lock ' +
      'on 7 was taken over after it expired; it runs again from current data. Raise worker.lockTtlMs if hooks are slow; a ' +
      'process stopped or paused for longer than it loses its locks too.']);
  });
});
