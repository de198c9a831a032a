import { SyncMachines } from '../../lib';
import { chaosDataSource, chaosMachine, Order, startWhenRedisAnswers } from './shared';

/**
 * A chaos writer process: `CHAOS_WRITES` saves spread over its orders (`CHAOS_IDS`, comma-separated), each bumping
 * the order's version, through TypeORM's save() with outbox capture. Prints the write latencies' p99 and max.
 */
async function main(): Promise<void> {
  const env = (name: string) => process.env[name] as string;
  const dataSource = await chaosDataSource(env('CHAOS_SCHEMA')).initialize();
  const start = () => SyncMachines.start({
    orm: dataSource, redis: env('CHAOS_REDIS_URL'), prefix: env('CHAOS_PREFIX'), capture: env('CHAOS_CAPTURE') === 'direct' ? 'direct' : 'outbox',
    machines: [chaosMachine(env('CHAOS_API_URL'))],
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
  });
  const sync = await startWhenRedisAnswers(start);
  const ids = env('CHAOS_IDS').split(',').map(Number);
  const versions = new Map(ids.map((id) => [id, 0]));
  const repo = dataSource.getRepository(Order);
  const waits: number[] = [];
  const writes = Number(env('CHAOS_WRITES'));
  for (let i = 0; i < writes; i += 1) {
    const id = ids[Math.floor(Math.random() * ids.length)];
    const version = versions.get(id)! + 1;
    versions.set(id, version);
    const started = performance.now();
    await repo.save({ id, version, status: `s${version % 7}` });
    waits.push(performance.now() - started);
  }
  waits.sort((a, b) => a - b);
  console.log(JSON.stringify({ writes, p99: waits[Math.floor(waits.length * 0.99)], max: waits[waits.length - 1] }));
  await sync.close();
  await dataSource.destroy();
}

main().catch((error) => {
  console.error(`[writer ${process.pid}] died: ${error?.stack ?? error}`);
  process.exit(1);
});
