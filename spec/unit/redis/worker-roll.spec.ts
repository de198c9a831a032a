import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import Redis from 'ioredis';
import { WorkerRoll } from '../../../lib/pipeline/worker-roll';
import { KeySpace } from '../../../lib/redis/keys';
import { withScripts } from '../../../lib/redis/scripts';
import { readMachineStatus, readRunning } from '../../../lib/runtime/status';
import { lockToken } from '../../../lib/pipeline/batch-locks';
import { MemoryLogger } from '../../support/logger';
import { deleteKeys, freshPrefix, REDIS_URL } from '../../support/redis';

/** The machine's roll of live workers (roll-2.lua through WorkerRoll), on the shared Redis under a fresh prefix. */
describe('worker roll (shared Redis, fresh prefix)', () => {
  let redis: Redis;
  let prefix: string;
  const rolls: WorkerRoll[] = [];
  beforeEach(async () => { redis = new Redis(REDIS_URL); prefix = freshPrefix('worker-roll'); await redis.ping(); });
  afterEach(async () => {
    for (const roll of rolls.splice(0)) await roll.leave();
    redis.disconnect();
    await deleteKeys(prefix);
  });
  const machines = [{ name: 'M', className: 'MSync' }, { name: 'N', className: 'NSync' }];
  const started = async (logger = new MemoryLogger(), on: Array<{ name: string; className: string; definition?: string }> = machines) => {
    const roll = new WorkerRoll(redis, new KeySpace(prefix), on, logger);
    rolls.push(roll);
    await roll.start();
    return roll;
  };

  it('a worker sees another on its machine within a fifth of a second, none on a machine it runs alone, none once the other left', async () => {
    const one = await started();
    expect(await one.othersRun('M')).to.equal(false);
    const two = await started(new MemoryLogger(), [machines[0]]);
    // One's reading of M is not yet FRESH_MS old: it is read again only after that.
    await new Promise((r) => setTimeout(r, 250));
    expect(await one.othersRun('M'), 'M').to.equal(true);
    expect(await one.othersRun('N'), 'N, which two does not run').to.equal(false);
    expect(await two.othersRun('M')).to.equal(true);
    expect(await redis.zcard(new KeySpace(prefix).workers('M'))).to.equal(2);
    await two.leave();
    await new Promise((r) => setTimeout(r, 250));
    expect(await one.othersRun('M'), 'after two left').to.equal(false);
  });

  it('an entry not renewed (a worker killed outright) drops off when it expires, and the key goes with the last', async () => {
    const scripts = withScripts(redis);
    const key = new KeySpace(prefix).workers('M');
    const definitions = new KeySpace(prefix).definitions('M');
    expect(await scripts.smRoll(key, definitions, 'killed', 100, 'd1', 'db1')).to.deep.equal([0, 0, 0]);
    expect(await scripts.smRoll(key, definitions, 'live', 5_000, 'd1', 'db1'), 'killed is still on').to.deep.equal([1, 0, 0]);
    await new Promise((r) => setTimeout(r, 150));
    expect(await scripts.smRoll(key, definitions, 'live', 100, 'd1', 'db1'), 'killed expired').to.deep.equal([0, 0, 0]);
    expect(await redis.zrange(key, 0, -1)).to.deep.equal(['live']);
    expect(await redis.zrange(definitions, 0, -1)).to.deep.equal(['d1 db1 live']);
    await new Promise((r) => setTimeout(r, 150));
    expect(await redis.exists(key, definitions), 'gone with the last entry').to.equal(0);
  });

  it('a roll key of the wrong type is said once, naming the key and the fix; the worker hands nothing back', async () => {
    const key = new KeySpace(prefix).workers('M');
    await redis.set(key, 'by hand');
    const logger = new MemoryLogger();
    const roll = await started(logger, [machines[0]]);
    expect(await roll.othersRun('M')).to.equal(false);
    await new Promise((r) => setTimeout(r, 250));
    expect(await roll.othersRun('M')).to.equal(false);
    expect(logger.warnings()).to.have.length(1);
    expect(logger.warnings()[0]).to.include(`the roll of MSync's workers: Redis refused it`)
      .and.include(`${key} is a string, where sync-machine keeps a zset: delete it (redis-cli DEL '${key}')`)
      .and.include('this worker hands none of its queued publishes to other workers');
  });

  it('status and drain() count only entries not expired: a killed worker is off the roll after 5 s, renewed by no one', async () => {
    const keys = new KeySpace(prefix);
    const scripts = withScripts(redis);
    await scripts.smRoll(keys.workers('M'), keys.definitions('M'), 'killed', 100, 'd1', 'db1');
    await scripts.smRoll(keys.workers('M'), keys.definitions('M'), 'live', 5_000, 'd1', 'db1');
    await new Promise((r) => setTimeout(r, 150));
    // Nothing ran roll-2.lua since: the expired entry is still in the zset.
    expect(await redis.zcard(keys.workers('M'))).to.equal(2);
    const machines = [{ name: 'M', subject: 'Order' }, { name: 'N', subject: 'Order' }];
    expect((await readRunning(redis, keys, machines)).workers).to.deep.equal([1, 0]);
    expect((await readMachineStatus(redis, keys, { name: 'M', subject: 'Order' }, 0)).workers).to.equal(1);
  });

  it("a run is said to be a gone worker's only when the roll says so, and not when the roll cannot be read", async () => {
    const keys = new KeySpace(prefix);
    const [dead, live] = [randomUUID(), randomUUID()];
    const claim = (item: string) => `${Date.now()}\n${JSON.stringify([item, '{}'])}`;
    await redis.hset(keys.step('M', 'ensure-publication').claims, lockToken('1', dead), claim('7'), lockToken('2', live), claim('8'));
    await withScripts(redis).smRoll(keys.workers('M'), keys.definitions('M'), live, 5_000, 'd1', 'db1');
    const read = await readRunning(redis, keys, [{ name: 'M', subject: 'Order' }]);
    expect(read.workerGone).to.deep.equal(new Map([['M', 1]]));
    expect(read.running).to.have.length(1);
    expect(read.running[0]).to.match(/Order 7 \(\d+\.\d s, its worker is gone\)/).and.match(/Order 8 \(\d+\.\d s\)/);
    await redis.del(keys.workers('M'));
    await redis.set(keys.workers('M'), 'by hand');
    const unread = await readRunning(redis, keys, [{ name: 'M', subject: 'Order' }]);
    expect(unread.workerGone.size, unread.running.join()).to.equal(0);
    expect(unread.running[0]).to.not.include('gone');
    expect(unread.workers, 'a roll not read counts no workers').to.equal(undefined);
  });

  it('workers on another definition of a machine are said to each (a deploy under way), and their end to those left; status counts them', async () => {
    const keys = new KeySpace(prefix);
    const [oldLog, newLog] = [new MemoryLogger(), new MemoryLogger()];
    const old = await started(oldLog, [{ name: 'M', className: 'MSync', definition: 'aaaa' }]);
    expect(oldLog.warnings(), 'alone').to.deep.equal([]);
    await started(newLog, [{ name: 'M', className: 'MSync', definition: 'bbbb' }]);
    await new Promise((r) => setTimeout(r, 1_300)); // one renewal of each
    for (const log of [oldLog, newLog]) {
      expect(log.warnings()).to.have.length(1);
      expect(log.warnings()[0]).to.include("MSync: 1 of the 1 other worker(s) running it run another definition of it (the source of its @Build")
        .and.include('a deploy under way?').and.include('resync MSync if those changed (`npx sync-machine diff MSync`');
    }
    const status = await readMachineStatus(redis, keys, { name: 'M', subject: 'Order', definition: 'bbbb' }, 0);
    expect(status.workers).to.equal(2);
    expect(status.definitions).to.deep.equal([
      { definition: 'aaaa', workers: 1, thisProcess: false }, { definition: 'bbbb', workers: 1, thisProcess: true }]);
    await old.leave();
    await new Promise((r) => setTimeout(r, 1_300));
    expect(newLog.infos().filter((l) => l.includes('definition'))).to.deep.equal([
      "MSync: every worker running it now runs this worker's definition of it. If the deploy changed its @Build, " +
      '@CheckPublishable, @SubjectIdsFrom, listened fields or relations, resync MSync once the app processes run the new ' +
      "code too (they capture with their own listened fields, and are on no worker's roll): `npx sync-machine diff MSync` " +
      'lists what differs; unchanged subjects cost no API call.']);
    expect(newLog.warnings(), 'said once').to.have.length(1);
    const after = await readMachineStatus(redis, keys, { name: 'M', subject: 'Order', definition: 'bbbb' }, 0);
    expect(after.definitions, 'one definition, this process\'').to.equal(undefined);
    const elsewhere = await readMachineStatus(redis, keys, { name: 'M', subject: 'Order', definition: 'cccc' }, 0);
    expect(elsewhere.definitions, 'every worker on code other than the reader\'s').to.deep.equal([{ definition: 'bbbb', workers: 1, thisProcess: false }]);
  });
});
