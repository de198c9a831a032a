import { expect } from 'chai';
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import Redis from 'ioredis';
import { SyncMachines } from '../../lib';
import { MemoryLogger } from '../support/logger';
import { ApiClient } from '../support/partner-api';
import { typeOrmShop } from '../support/orms/typeorm';
import { REDIS_URL } from '../support/redis';
import { KeySpace } from '../../lib/redis/keys';
import { CliWorld, SHOP_CONFIG, until } from './support/cli-world';

const ROOT = join(__dirname, '..', '..');

/** `sync-machine worker` as its own process, from the sources (ts-node, no type check: start-up in about a second). */
function startWorkerProcess(env: Record<string, string>): { child: ChildProcess; output: { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [
    '-r', 'ts-node/register/transpile-only', join(ROOT, 'bin', 'sync-machine.ts'),
    'worker', '--config', SHOP_CONFIG, '--concurrency', '1',
  ], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout!.on('data', (chunk) => { output.stdout += chunk; });
  child.stderr!.on('data', (chunk) => { output.stderr += chunk; });
  return { child, output };
}

describe('sync-machine worker (a process, PostgreSQL, Redis)', () => {
  let w: CliWorld;
  let redis: Redis;
  let capture: SyncMachines | undefined;
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    w = await new CliWorld().setUp();
    redis = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await capture?.close();
    redis.disconnect();
    await w.tearDown();
  });

  it('on SIGTERM takes no new job, lets the running publish finish, releases its lock, and exits 0', async () => {
    const worker = startWorkerProcess({ ...w.env, SM_CLI_WORKER: JSON.stringify({ closeTimeoutMs: 10_000 }) });
    child = worker.child;
    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
    await until(() => worker.output.stdout.includes('sync-machine worker: running OrderToApiSync'),
      () => `the worker to start; it said: ${worker.output.stdout}${worker.output.stderr}`, 60_000);

    // The app: a capture-only runtime on its own connection; each save enqueues one publication.
    capture = await SyncMachines.start({
      orm: w.dataSource, redis: REDIS_URL, prefix: w.prefix, logger: new MemoryLogger(),
      machines: [new typeOrmShop.OrderToApiSync(new ApiClient(w.api.url))],
    });
    w.api.delayMs = 1500;
    const [first] = await w.orders(1);
    await until(() => w.api.maxInFlightPerId > 0, 'the first publish to reach the API');
    const [second] = await w.orders(1); // pending while the first publishes: the run would take it next
    child.kill('SIGTERM');

    expect(await exited, worker.output.stderr).to.equal(0);
    expect(w.api.publishes().map((r) => r.id)).to.deep.equal([String(first.id)]); // finished, and the only one
    const stored = await w.dataSource.query('SELECT subject_id FROM sync_machine_payloads');
    expect(stored).to.deep.equal([{ subject_id: String(first.id) }]);
    const keys = new KeySpace(w.prefix);
    expect(await redis.hlen(keys.locks('OrderToApiSync'))).to.equal(0);
    expect(await redis.llen(keys.queueKey('OrderToApiSync', 'ensure-publication', 'active'))).to.equal(0);
    // Left for the next worker: the subject pending, and a ticket to run it.
    expect(await redis.zrange(keys.step('OrderToApiSync', 'ensure-publication').pending, 0, -1)).to.deep.equal([String(second.id)]);
    expect(await redis.llen(keys.queueKey('OrderToApiSync', 'ensure-publication', 'waiting'))).to.equal(1);
    expect(worker.output.stdout).to.match(
      /SIGTERM: taking no new jobs, waiting up to 10000 ms for running ones\.\nsync-machine worker: stopped\.\n$/);
  });
});
