import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';

/** Where a connection points, as an ORM's options say it: never the password. */
export interface DatabaseAddress {
  type: string;
  url?: string;
  host?: string;
  port?: number | string;
  database?: string;
  schema?: string;
}

/**
 * The database a runtime works on, for telling runtimes under one prefix that work on different ones (a trial's two
 * tenants on one prefix: each worker ran the other's changes against its own database, where they read as unchanged
 * or gone, and one tenant's partner got nothing, with nothing said). From the options only, no query: the same
 * database reached under two host names reads as two. An in-memory SQLite database is its process' own.
 */
export function databaseLabel(address: DatabaseAddress): string {
  let { host, port, database } = address;
  if (address.url) {
    try {
      const url = new URL(address.url);
      host ??= url.hostname;
      port ??= url.port;
      database ??= decodeURIComponent(url.pathname.replace(/^\//, ''));
    } catch {
      // An unreadable URL fails the ORM's own connection first.
    }
  }
  if (/sqlite/i.test(address.type)) {
    const file = !database || database === ':memory:' ? `:memory: ${MEMORY}` : resolve(database);
    return `sqlite ${file}`;
  }
  const at = `${host ?? 'localhost'}${port ? `:${port}` : ''}/${database ?? ''}`;
  return `${address.type} ${at}${address.schema ? ` schema ${address.schema}` : ''}`;
}

/** This process' in-memory SQLite databases are its own. */
const MEMORY = randomUUID();
