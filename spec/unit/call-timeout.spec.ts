import { expect } from 'chai';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CallTimeouts } from '../../lib/pipeline/call-timeout';

/** The garbage collector, on demand: what took Node 20's AbortSignal.any timeout away (a trial). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const aborted = (signal: AbortSignal) => new Promise<unknown>((resolve) => signal.addEventListener('abort', () => resolve(signal.reason)));

describe('ctx.timeout(ms) (CallTimeouts)', () => {
  it('aborts with a TimeoutError after ms, with the garbage collector running meanwhile', async () => {
    const gc = collector();
    const collecting = setInterval(gc, 10);
    try {
      const started = Date.now();
      // Referenced by nothing but a listener on it, as fetch holds it: Node 20's AbortSignal.any([base,
      // AbortSignal.timeout(100)]) never aborts here.
      const reason = await aborted(new CallTimeouts().signal(new AbortController().signal, 100, 'Order 7'));
      expect(Date.now() - started).to.be.within(90, 1_000);
      expect(reason).to.be.instanceOf(DOMException);
      expect((reason as DOMException).name).to.equal('TimeoutError');
      expect((reason as DOMException).message).to.equal('Order 7: the call did not return within 100 ms (ctx.timeout)');
    } finally {
      clearInterval(collecting);
    }
  });

  it('aborts with ctx.signal\'s reason when that aborts first (a lost lock), and at once when it already has', async () => {
    const base = new AbortController();
    const signal = new CallTimeouts().signal(base.signal, 10_000, 'Order 7');
    const lost = new Error('lock lost');
    base.abort(lost);
    expect(signal.aborted).to.equal(true);
    expect(signal.reason).to.equal(lost);
    expect(new CallTimeouts().signal(base.signal, 10_000, 'Order 7').reason).to.equal(lost);
  });

  it('stops timing out once the call returned (clear)', async () => {
    const timeouts = new CallTimeouts();
    const signal = timeouts.signal(new AbortController().signal, 30, 'Order 7');
    timeouts.clear();
    await new Promise((r) => setTimeout(r, 80));
    expect(signal.aborted).to.equal(false);
  });

  it('refuses ms that is not a number of milliseconds above 0, saying how to call it', () => {
    for (const ms of [0, -5, NaN, Infinity, '10000', undefined]) {
      expect(() => new CallTimeouts().signal(new AbortController().signal, ms, 'Order 7')).to.throw(TypeError,
        /^ctx\.timeout\(ms\) for Order 7: ms must be a number of milliseconds above 0, got .*; e\.g\. fetch\(url, \{ signal: ctx\.timeout\(10_000\) \}\)\.$/);
    }
  });
});
