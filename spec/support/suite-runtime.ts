import { SyncMachines } from '../../lib';
import type { DrainSummary } from '../../lib/runtime/drain';
import { DatabaseKind, TestDatabase } from './database';
import { FAST_WORKER } from './harness';
import { MemoryLogger } from './logger';
import { MikroOrmTestDatabase } from './orms/mikro-orm-database';
import { PartnerApi } from './partner-api';
import { deleteKeys, freshPrefix, REDIS_URL } from './redis';

/** What a suite with its own entities needs, filled in by the `before` hook suiteRuntime registers. */
export interface SuiteRuntime<O> {
  orm: O;
  api: PartnerApi;
  sync: SyncMachines;
  logger: MemoryLogger;
  prefix: string;
  drain(): Promise<DrainSummary>;
}

/** A suite's ORM on its own database: the handle start() takes, and how to drop the database. */
interface Connected<O> {
  orm: O;
  destroy(): Promise<void>;
}

/**
 * For a `describe` whose suite brings its own entities (uuid keys, links, inheritance): registers the `before`
 * that connects the ORM, starts a partner API and a runtime with a worker running `machines`, and the `after`
 * that closes them and deletes the Redis keys. Call it in the describe's body.
 */
export function suiteRuntime<O>(
  label: string, connect: () => Promise<Connected<O>>, machines: (api: PartnerApi, orm: O) => object[],
): SuiteRuntime<O> {
  const suite = { prefix: freshPrefix(label), logger: new MemoryLogger() } as SuiteRuntime<O>;
  suite.drain = () => suite.sync.drain({ timeoutMs: 20_000 });
  let connected: Connected<O> | undefined;
  before(async () => {
    connected = await connect();
    suite.orm = connected.orm;
    suite.api = await new PartnerApi().start();
    suite.sync = await SyncMachines.start({
      orm: connected.orm, redis: REDIS_URL, prefix: suite.prefix, logger: suite.logger, worker: FAST_WORKER,
      machines: machines(suite.api, connected.orm),
    });
  });
  after(async () => {
    await suite.sync?.close();
    await suite.api?.stop();
    await connected?.destroy();
    await deleteKeys(suite.prefix);
  });
  return suite;
}

/** A TypeORM DataSource for `entities` on a fresh database of this kind. */
export async function typeOrmOn(kind: DatabaseKind, entities: Function[]) {
  const db = await TestDatabase.create(kind, entities);
  return { orm: await db.connect(), destroy: () => db.destroy() };
}

/** A MikroORM instance for `entities` on a fresh database of this kind. */
export async function mikroOrmOn(kind: DatabaseKind, entities: Function[]) {
  const db = await MikroOrmTestDatabase.create(kind, entities as never);
  return { orm: await db.connect(), destroy: () => db.destroy() };
}
