import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DemoOrm } from './shop-port';

/** dist/demo/ -> the repo root; `.demo/` is gitignored. */
const SQLITE_FILE = resolve(__dirname, '..', '..', '.demo', 'shop.sqlite');

/**
 * The demo names a database by one URL, so main can hand it to the worker process in DATABASE_URL:
 * `sqlite:<file>` or `postgres://...?schema=<name>`. `schema` is the demo's own parameter, not pg's:
 * each run gets a fresh schema so reruns (and runs side by side) never see each other's rows.
 */
export interface DemoDatabase {
  url: string;
  describe: string;
  dispose(): Promise<void>;
}

/** A `postgres://...?schema=` URL split into the connection URL and the schema. */
export function parsePostgresUrl(url: string): { url: string; schema?: string } {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') ?? undefined;
  parsed.searchParams.delete('schema');
  return { url: parsed.toString(), schema };
}

/** A fresh, empty database for this run: a new SQLite file, or a new PostgreSQL schema (dropped by dispose). */
export async function freshDatabase(databaseUrl: string | undefined, orm: DemoOrm): Promise<DemoDatabase> {
  if (!databaseUrl) {
    mkdirSync(join(SQLITE_FILE, '..'), { recursive: true });
    for (const suffix of ['', '-wal', '-shm']) rmSync(SQLITE_FILE + suffix, { force: true });
    // The file stays after the run, to be inspected.
    return { url: `sqlite:${SQLITE_FILE}`, describe: `SQLite ${SQLITE_FILE}`, dispose: async () => undefined };
  }
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new Error(`DATABASE_URL must be postgres://user@host:port/db (or unset for SQLite), got ${databaseUrl}`);
  }
  const schema = `sync_machine_demo_${randomBytes(4).toString('hex')}`;
  const admin = await orm.admin(databaseUrl);
  await admin.exec(`CREATE SCHEMA "${schema}"`);
  const url = new URL(databaseUrl);
  url.searchParams.set('schema', schema);
  const shown = new URL(databaseUrl);
  shown.password = '';
  return {
    url: url.toString(),
    describe: `PostgreSQL ${shown.host}${shown.pathname}, schema ${schema}`,
    dispose: async () => {
      await admin.exec(`DROP SCHEMA "${schema}" CASCADE`);
      await admin.close();
    },
  };
}
