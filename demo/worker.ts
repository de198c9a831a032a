import 'reflect-metadata';
import { SyncMachines } from 'sync-machine';
import { ApiClient } from './api-client';
import { loadOrm, ormFromArguments } from './orm';
import { startTelemetry, telemetryFromEnvironment } from './telemetry';

/**
 * The worker process: runs FindSubjects and EnsurePublication jobs. main.ts starts it as its own process
 * because that is how an app deploys it: web processes capture, worker processes publish.
 */
function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`worker: ${name} is not set (main.ts passes SYNC_DEMO_ORM, REDIS_URL, DATABASE_URL, PARTNER_API_URL, SYNC_PREFIX)`);
  return value;
}

async function main(): Promise<void> {
  const telemetry = startTelemetry('shop-worker', telemetryFromEnvironment());
  // The ORM comes from SYNC_DEMO_ORM (or --orm), as main.ts chose it.
  const shop = await loadOrm(ormFromArguments()).connect(env('DATABASE_URL'));
  const sync = await SyncMachines.start({
    orm: shop.orm,
    redis: env('REDIS_URL'),
    machines: [shop.machine(new ApiClient(env('PARTNER_API_URL')))],
    // A short retry delay: a demo should show a failed publish retried within seconds, not minutes.
    worker: { concurrency: 20, retry: { attempts: 3, initialDelayMs: 200 } },
    prefix: env('SYNC_PREFIX'),
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // Graceful: running jobs finish and release their locks, so nothing is left for a stall check to redo.
    await sync.close();
    await shop.close();
    await telemetry?.shutdown(); // flushes the last spans
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The parent died without stopping us: do not linger as an orphan holding Redis connections.
  process.on('disconnect', stop);

  if (process.send) process.send({ ready: true });
  else console.log('worker ready');
}

main().catch((error) => {
  console.error(`worker failed to start: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
