import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { WorkerModule } from './app.module';

/**
 * The worker process: a Nest application context (no HTTP server) whose SyncMachineModule has `worker` set.
 * enableShutdownHooks: SIGTERM and SIGINT close the context, and with it the runtime, gracefully (running jobs
 * finish, locks released, connections closed), then the DataSource.
 */
async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(WorkerModule, { logger: ['log', 'warn', 'error'] });
  app.enableShutdownHooks();
  console.log('nest worker: ready');
  if (process.send) process.send({ ready: true });
}

main().catch((error) => {
  console.error(`nest worker failed to start: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
