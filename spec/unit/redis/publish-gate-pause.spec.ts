import { expect } from 'chai';
import Redis from 'ioredis';
import { RetryAfter } from '../../../lib/errors';
import { PausedHere, PublishGate } from '../../../lib/pipeline/publish-gate';
import { WorkQueue } from '../../../lib/pipeline/work-queue';
import { KeySpace } from '../../../lib/redis/keys';
import { deleteKeys, freshPrefix, REDIS_URL } from '../../support/redis';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What publishes do as a pause ends (PublishGate, a real work queue under a fresh prefix for the pause other workers
 * set): five slots, five publishes waiting to go.
 */
describe('publish gate: the first publish after a pause goes alone (shared Redis, fresh prefix)', () => {
  let redis: Redis;
  let prefix: string;
  let gate: PublishGate;
  beforeEach(() => {
    redis = new Redis(REDIS_URL);
    prefix = freshPrefix('publish-gate-pause');
    gate = new PublishGate(5, new WorkQueue(redis, new KeySpace(prefix), 'M', 'ensure-publication', { batchSize: 500, debounceMs: 0 }), async () => false);
  });
  afterEach(async () => {
    redis.disconnect();
    await deleteKeys(prefix);
  });

  /** Five publishes at once, each taking 100 ms unless `answer` says otherwise; when each started. */
  async function five(answer: (i: number) => Promise<string> = () => sleep(100).then(() => 'sent')) {
    const started: number[] = [];
    const results = await Promise.all([0, 1, 2, 3, 4].map((i) => gate.run(async () => {
      started[i] = performance.now();
      return answer(i);
    }).catch((error: unknown) => {
      if (error instanceof PausedHere) return 'paused here';
      return error instanceof RetryAfter ? 'refused' : Promise.reject(error);
    })));
    return { started, results };
  }

  it('the rest go once it answered; without a pause all go at once', async () => {
    const free = await five();
    expect(Math.max(...free.started) - Math.min(...free.started), 'no pause: together').to.be.below(50);

    expect(gate.pause(100)).to.equal(true);
    await sleep(150);
    const after = await five();
    expect(after.results).to.deep.equal(['sent', 'sent', 'sent', 'sent', 'sent']);
    const [first, ...rest] = [...after.started].sort((a, b) => a - b);
    // Before, all five went as the pause ended, into the partner's next 429 together (a trial: about 21 at a time).
    for (const t of rest) expect(t - first, 'after the first one answered').to.be.at.least(95);
  });

  it('when it is refused with RetryAfter, the rest wait out the new pause without a call', async () => {
    gate.pause(50);
    await sleep(100);
    let calls = 0;
    const { results } = await five(async () => {
      calls += 1;
      await sleep(50);
      throw new RetryAfter(1_000);
    });
    expect(calls, 'calls made').to.equal(1);
    expect([...results].sort()).to.deep.equal(['paused here', 'paused here', 'paused here', 'paused here', 'refused']);
    // The run says the pause (item-run.ts): still its first saying, although the gate held it already.
    expect(gate.pause(1_000)).to.equal(true);
  });
});
