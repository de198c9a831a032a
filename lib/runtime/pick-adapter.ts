import { ConfigurationError } from '../errors';
import type { Logger } from '../logger';
import type { OrmAdapter } from '../ports';

function isOrmAdapter(orm: unknown): orm is OrmAdapter {
  const o = orm as Partial<OrmAdapter>;
  return !!o && typeof o.onCommitted === 'function' && typeof o.load === 'function' && typeof o.describe === 'function';
}

/** TypeORM marks its classes with a registered symbol, which works across copies of the package. */
function isTypeOrmDataSource(orm: unknown): boolean {
  return !!orm && (orm as Record<string, unknown>)['@instanceof'] === Symbol.for('DataSource');
}

function isMikroOrm(orm: unknown): boolean {
  const o = orm as Record<string, unknown>;
  return !!o && typeof o.em === 'object' && typeof o.getMetadata === 'function' && typeof o.config === 'object';
}

/** Chooses the adapter from what `orm` is; the core never imports an ORM itself. */
export function pickAdapter(orm: unknown, logger: Logger): OrmAdapter {
  if (isOrmAdapter(orm)) return orm;
  if (isTypeOrmDataSource(orm)) {
    // Loaded lazily so that an app without TypeORM never requires it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { TypeOrmAdapter } = require('../../adapters/typeorm/adapter') as typeof import('../../adapters/typeorm/adapter');
    return new TypeOrmAdapter(orm as never, logger);
  }
  if (isMikroOrm(orm)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { MikroOrmAdapter } = require('../../adapters/mikro-orm/adapter') as typeof import('../../adapters/mikro-orm/adapter');
    return new MikroOrmAdapter(orm as never, logger);
  }
  throw new ConfigurationError(`orm: expected a TypeORM DataSource or a MikroORM instance, got ${whatOrm(orm)}: ` +
    'pass SyncMachines.start({ orm: dataSource, ... }) after `await dataSource.initialize()`, ' +
    'or the MikroORM instance from `await MikroORM.init(...)`.');
}

/** What was passed as `orm` instead, in the words of the fix: an entity manager is the commonest slip. */
function whatOrm(orm: unknown): string {
  if (orm === null || typeof orm !== 'object') return orm === null ? 'null' : typeof orm;
  const o = orm as Record<string | symbol, unknown>;
  if (o['@instanceof'] === Symbol.for('EntityManager')) return 'a TypeORM EntityManager (pass its DataSource, `manager.connection`)';
  if (typeof o.fork === 'function' && typeof o.getMetadata === 'function') return 'a MikroORM EntityManager (pass the MikroORM instance, not `orm.em`)';
  const name = (o.constructor as { name?: string } | undefined)?.name;
  return name && o.constructor !== Object ? `a ${name}` : 'a plain object';
}
