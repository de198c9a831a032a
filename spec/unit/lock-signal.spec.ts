import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import { LockLostError, LockLostWhilePublishingError } from '../../lib/errors';
import { BatchLocks } from '../../lib/pipeline/batch-locks';
import type { WorkQueue } from '../../lib/pipeline/work-queue';

/**
 * ctx.signal's three triggers (the getter, the lock timer before its extend, an extend that finds the lock taken),
 * close() giving up, and what a hook's failure after an abort becomes. The work queue is a stand-in: only
 * `extend` is called, and it answers what each case needs.
 */
describe('BatchLocks: ctx.signal', () => {
  const started: BatchLocks[] = [];
  afterEach(() => { for (const locks of started.splice(0)) locks.stop(); });
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** Locks on ['5'] taken `agoMs` ago, lasting `ttlMs`; `extend` answers the items it reports lost. */
  function locksOn(options: { ttlMs: number; agoMs?: number; extend?: (items: string[]) => Promise<string[]>; closed?: () => boolean }) {
    const work = { extend: (_token: string, _ttl: number, items: string[]) => (options.extend ?? (async () => []))(items) };
    const locks = new BatchLocks(work as unknown as WorkQueue, 't:1', options.ttlMs, ['5'], performance.now() - (options.agoMs ?? 0),
      options.closed ?? (() => false));
    started.push(locks);
    return locks;
  }

  it('is not aborted while the lock is valid, and a call that fails then is the hook\'s own failure', async () => {
    const locks = locksOn({ ttlMs: 30_000 });
    const abort = new AbortController();
    expect(locks.signal('5', abort, 'Order 5')).to.be.instanceOf(AbortSignal).and.have.property('aborted', false);
    const error = new Error('partner API answered 500');
    const thrown = await locks.during('5', abort, 'Order 5', () => Promise.reject(error)).catch((e: unknown) => e);
    expect(thrown).to.equal(error);
  });

  it('the getter aborts, before the request goes out, once the lock is not valid on the monotonic clock', () => {
    const locks = locksOn({ ttlMs: 30_000, agoMs: 29_500 }); // within the margin: no longer provably held
    const signal = locks.signal('5', new AbortController(), 'Order 5');
    expect(signal.aborted).to.equal(true);
    expect(signal.reason).to.be.instanceOf(LockLostError);
    expect(signal.reason.message).to.match(/^the lock on Order 5 could not be proven held \(taken over after a stall longer than worker\.lockTtlMs\?\)/);
  });

  it('the timer aborts a lapsed call before it sends the extend', async () => {
    const abort = new AbortController();
    const atExtend: boolean[] = [];
    const locks = locksOn({ ttlMs: 60, agoMs: 60, extend: () => { atExtend.push(abort.signal.aborted); return new Promise(() => undefined); } });
    const call = locks.during('5', abort, 'Order 5', () => new Promise<void>((_resolve, reject) => {
      abort.signal.addEventListener('abort', () => reject(abort.signal.reason));
    }));
    const thrown = await call.catch((e: unknown) => e);
    expect(atExtend).to.deep.equal([true]);
    expect(thrown).to.be.instanceOf(LockLostWhilePublishingError);
    expect((thrown as Error).cause).to.equal(abort.signal.reason);
  });

  it('an extend that finds the lock taken aborts the call, though the monotonic clock still vouches for it', async () => {
    // The timer extends at 100 ms; the lock would lapse on the monotonic clock only at 240 ms (300 less its margin).
    const locks = locksOn({ ttlMs: 300, extend: async (items) => items });
    const abort = new AbortController();
    const start = performance.now();
    const thrown = await locks.during('5', abort, 'Order 5', async () => {
      while (!abort.signal.aborted) await wait(5);
      throw abort.signal.reason;
    }).catch((e: unknown) => e);
    expect(performance.now() - start).to.be.below(200);
    expect(thrown).to.be.instanceOf(LockLostWhilePublishingError);
  });

  it('close() giving up aborts the call, which then fails as itself (not as a lock lost)', async () => {
    let closed = false;
    const locks = locksOn({ ttlMs: 60, closed: () => closed });
    const abort = new AbortController();
    const call = locks.during('5', abort, 'Order 5', async () => {
      while (!abort.signal.aborted) await wait(5);
      throw abort.signal.reason;
    });
    closed = true;
    const thrown = await call.catch((e: unknown) => e);
    expect(thrown).to.not.be.instanceOf(LockLostError);
    expect((thrown as Error).message).to.equal('close() gave up on the run of Order 5 (worker.closeTimeoutMs), so ctx.signal aborted its call');
  });

  it('drops the call when it ends: a later lapse aborts nothing it holds', async () => {
    const abort = new AbortController();
    const locks = locksOn({ ttlMs: 60, extend: async (items) => items });
    await locks.during('5', abort, 'Order 5', async () => undefined);
    await wait(50);
    expect(abort.signal.aborted).to.equal(false);
  });
});
