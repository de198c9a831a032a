import 'reflect-metadata';
import { SyncMachines } from '../../../lib';
import { shopDataSource } from '../../cli/fixtures/shop-data-source';
import { REDIS_URL } from '../../support/redis';
import { stallMachine } from './stall-machine';

/*
 * A worker process for the stall spec: the Stall machine on the CLI world's schema, with the lock and stall
 * settings of the issue (SM_WORKER, JSON). Prints "ready" once it takes jobs; SIGTERM closes it.
 */
async function main(): Promise<void> {
  const env = (name: string) => process.env[name] ?? (() => { throw new Error(`${name} is not set`); })();
  const say = (line: string) => console.log(`[${process.pid}] ${line}`);
  const dataSource = await shopDataSource(env('SM_CLI_SCHEMA')).initialize();
  const sync = await SyncMachines.start({
    orm: dataSource, redis: REDIS_URL, prefix: env('SM_CLI_PREFIX'),
    machines: [stallMachine(env('SM_CLI_API_URL'), Number(env('SM_STALL_MS')), say)],
    worker: JSON.parse(env('SM_WORKER')),
    logger: { info: (m) => say(`info ${m}`), warn: (m) => say(`warn ${m}`), error: (m) => say(`error ${m}`) },
  });
  say('ready');
  process.once('SIGTERM', () => void sync.close().then(() => dataSource.destroy()).then(() => process.exit(0)));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
