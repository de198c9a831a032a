import 'reflect-metadata';
import { ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { SyncMachines } from 'sync-machine';
import { freshDatabase } from '../database';
import { PartnerApi } from '../partner-api';
import { resolveRedis } from '../redis';
import { typeOrm } from '../typeorm';
import { connect, createTables } from '../typeorm/data-source';
import { AppModule } from './app.module';
import { ShopService } from './shop.service';

/**
 * `npm run demo:nestjs`: the seed's shop as a NestJS app. This process is the web app (AppModule: capture
 * only); worker.ts runs in its own process (WorkerModule: the same modules with `worker` set). Each step
 * says how many calls the partner API should get, and the demo checks it got exactly those.
 */
async function startWorker(env: Record<string, string>): Promise<ChildProcess> {
  const child = fork(join(__dirname, 'worker.js'), { env: { ...process.env, ...env } });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the worker did not report ready within 30 s')), 30_000);
    child.once('message', () => { clearTimeout(timer); resolve(); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the worker exited (code ${code}) before it was ready`)); });
  });
  return child;
}

async function main(): Promise<boolean> {
  const redis = await resolveRedis();
  if (!redis) {
    console.log('The demo needs Redis: start one (redis-server --port 6379) or set REDIS_URL.');
    return false;
  }
  const cleanups: Array<() => Promise<unknown>> = [() => redis.stop()];
  let allOk = false;
  try {
    const api = await new PartnerApi().start();
    cleanups.push(() => api.stop());
    const db = await freshDatabase(process.env.DATABASE_URL, typeOrm);
    cleanups.push(() => db.dispose());
    // The payload table through the library's migration, the shop's tables by synchronize: an app's deploy step.
    const setup = await connect(db.url);
    await createTables(setup);
    await setup.destroy();
    const env = { DATABASE_URL: db.url, REDIS_URL: redis.url, PARTNER_API_URL: api.url, SYNC_PREFIX: `sync-machine-nest-${randomBytes(4).toString('hex')}` };
    Object.assign(process.env, env);
    console.log(`database     ${db.describe}\nredis        ${redis.url}, prefix ${env.SYNC_PREFIX}\npartner API  ${api.url}`);

    const worker = await startWorker(env);
    const workerExit = new Promise<string>((resolve) => worker.once('exit', (code, signal) => resolve(signal ?? `code ${code}`)));
    cleanups.push(async () => { if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL'); });

    const app = await NestFactory.createApplicationContext(AppModule, { logger: ['warn', 'error'] });
    const shop = app.get(ShopService);
    const sync = app.get(SyncMachines);
    const jane = await shop.createCustomer('Jane', 'Yang');
    let first = 0;
    const steps: Array<[string, number, () => Promise<unknown>]> = [
      ['place an order', 1, async () => { first = (await shop.placeOrder(jane.id)).id; }],
      ['change its warehouseCode (not in the payload)', 0, () => shop.updateOrder(first, { warehouseCode: 'W7' })],
      ['ship it', 1, () => shop.updateOrder(first, { status: 'shipped' })],
      ['place a second order', 1, () => shop.placeOrder(jane.id)],
      ['rename the customer (two orders)', 2, () => shop.renameCustomer(jane.id, 'Jane', 'Smith')],
    ];
    const results: boolean[] = [];
    for (const [label, expected, run] of steps) {
      console.log(`\n${label}: expect ${expected} call${expected === 1 ? '' : 's'}`);
      api.beginStep();
      await run();
      await sync.drain({ timeoutMs: 30_000 }); // the worker process runs the jobs; drain sees the queues empty
      const calls = api.endStep();
      results.push(calls === expected);
      console.log(`  ${calls === expected ? 'ok' : 'WRONG'}: ${calls} call${calls === 1 ? '' : 's'}`);
    }
    await app.close();
    worker.kill('SIGTERM'); // enableShutdownHooks in worker.ts: Nest closes the context, and the runtime with it
    const how = await workerExit;
    console.log(`\nworker stopped on ${how}`);
    allOk = results.every(Boolean) && how === 'SIGTERM';
  } catch (error) {
    console.error(`\nThe demo stopped: ${error instanceof Error ? error.stack : String(error)}`);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => console.error(`cleanup failed: ${String(error)}`));
  }
  console.log(allOk ? '\nOK: every step made exactly the API calls it called for.' : '\nFAILED');
  return allOk;
}

main().then((ok) => { process.exitCode = ok ? 0 : 1; }, (error) => {
  console.error(error);
  process.exitCode = 1;
});
