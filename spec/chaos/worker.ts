import { SyncMachines } from '../../lib';
import { chaosDataSource, chaosMachine, startWhenRedisAnswers } from './shared';

/** A chaos worker process: outbox capture, short stall interval so SIGKILLed runs are taken over quickly. */
async function main(): Promise<void> {
  const env = (name: string) => process.env[name] as string;
  const dataSource = await chaosDataSource(env('CHAOS_SCHEMA')).initialize();
  const sync = await startWhenRedisAnswers(() => SyncMachines.start({
    orm: dataSource, redis: env('CHAOS_REDIS_URL'), prefix: env('CHAOS_PREFIX'), capture: env('CHAOS_CAPTURE') === 'direct' ? 'direct' : 'outbox',
    machines: [chaosMachine(env('CHAOS_API_URL'))],
    worker: { concurrency: 20, lockTtlMs: 4000, stallIntervalMs: 1000, retry: { attempts: 50, initialDelayMs: 100 } },
    logger: { info: () => undefined, warn: () => undefined, error: (m) => console.error(`[worker ${process.pid}] ${m}`) },
  }));
  console.log('ready');
  process.once('SIGTERM', () => void sync.close().then(() => dataSource.destroy()).then(() => process.exit(0)));
}

main().catch((error) => {
  console.error(`[worker ${process.pid}] died: ${error?.stack ?? error}`);
  process.exit(1);
});
