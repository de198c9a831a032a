import type { MikroORM } from '@mikro-orm/core';
import { ConfigurationError } from '../../lib/errors';
import { OUTBOX_TABLE } from './outbox-entity';
import { PAYLOAD_ENTITY_NAME, PAYLOAD_TABLE, SyncMachinePayloadRow } from './payload-entity';

/** 'mariadb' and 'mysql' give the same statements: MikroORM's MariaDB platform extends its MySQL one. */
export type PayloadTableDialect = 'postgresql' | 'sqlite' | 'mysql' | 'mariadb';

export interface PayloadTableSql {
  up: string[];
  down: string[];
  /** For a table made before `version` existed (run once; `createPayloadTable` does it when needed). */
  upgrade: string[];
}

/**
 * The statements that create and drop `sync_machine_payloads`, exactly as MikroORM's schema generator writes
 * them for SyncMachinePayload (so `orm.schema.getUpdateSchemaSQL()` finds nothing to change afterwards). Plain
 * SQL, so that it fits any migration tool; in a `@mikro-orm/migrations` Migration:
 * `for (const sql of payloadTableSql('postgresql').up) this.addSql(sql);`.
 */
export function payloadTableSql(dialect: PayloadTableDialect, schema?: string): PayloadTableSql {
  if (dialect === 'postgresql') {
    const table = schema ? `"${schema}"."${PAYLOAD_TABLE}"` : `"${PAYLOAD_TABLE}"`;
    return {
      up: [`create table if not exists ${table} ("machine" varchar(200) not null, "subject_id" varchar(200) not null, ` +
        '"body" text not null, "digest" varchar(64) not null, "generated_at" timestamptz not null, ' +
        `"published_at" timestamptz null, "version" int not null default 0, constraint "${PAYLOAD_TABLE}_pkey" primary key ("machine", "subject_id"));`],
      upgrade: [`alter table ${table} add column if not exists "version" int not null default 0;`],
      down: [`drop table if exists ${table} cascade;`],
    };
  }
  if (dialect === 'sqlite') {
    return {
      up: [`create table if not exists \`${PAYLOAD_TABLE}\` (\`machine\` text not null, \`subject_id\` text not null, ` +
        '`body` text not null, `digest` text not null, `generated_at` datetime not null, `published_at` datetime null, ' +
        '`version` integer not null default 0, primary key (`machine`, `subject_id`));'],
      upgrade: [`alter table \`${PAYLOAD_TABLE}\` add column \`version\` integer not null default 0;`],
      down: [`drop table if exists \`${PAYLOAD_TABLE}\`;`],
    };
  }
  if (dialect === 'mysql' || dialect === 'mariadb') {
    // A schema on MySQL is a database.
    const table = schema ? `\`${schema}\`.\`${PAYLOAD_TABLE}\`` : `\`${PAYLOAD_TABLE}\``;
    return {
      up: [`create table if not exists ${table} (\`machine\` varchar(200) not null, \`subject_id\` varchar(200) not null, ` +
        '`body` text not null, `digest` varchar(64) not null, `generated_at` datetime not null, `published_at` datetime null, ' +
        '`version` int not null default 0, primary key (`machine`, `subject_id`)) default character set utf8mb4 engine = InnoDB;'],
      upgrade: [`alter table ${table} add column \`version\` int not null default 0;`],
      down: [`drop table if exists ${table};`],
    };
  }
  throw new ConfigurationError(
    `payloadTableSql: no statements for "${String(dialect)}": sync-machine ships them for 'postgresql', 'sqlite', 'mysql' and 'mariadb'; ` +
    'on another database let MikroORM create the table from the SyncMachinePayload entity (orm.schema.updateSchema(), ' +
    `or \`npx mikro-orm migration:create\`).${minified(dialect)}`);
}

/**
 * Creates `sync_machine_payloads` on the ORM's database unless it exists, and adds `version` to one made before it
 * existed: run it once at deploy, like a migration.
 */
export async function createPayloadTable(orm: MikroORM): Promise<void> {
  const sql = payloadTableSql(dialectOf(orm), schemaOf(orm));
  const connection = orm.em.getConnection('write');
  for (const statement of sql.up) await connection.execute(statement);
  const hasVersion = await orm.em.fork().find<SyncMachinePayloadRow>(PAYLOAD_ENTITY_NAME, {}, { limit: 1, fields: ['version'] as never })
    .then(() => true, () => false);
  if (!hasVersion) for (const statement of sql.upgrade) await connection.execute(statement);
}

/** Drops `sync_machine_payloads`: the migration's `down`. */
export async function dropPayloadTable(orm: MikroORM): Promise<void> {
  for (const sql of payloadTableSql(dialectOf(orm), schemaOf(orm)).down) await orm.em.getConnection('write').execute(sql);
}

/**
 * The statements that create and drop `sync_machine_outbox` (capture: 'outbox'), as MikroORM's schema generator
 * writes them for SyncMachineOutbox. Plain SQL for any migration tool, like payloadTableSql().
 */
export function outboxTableSql(dialect: PayloadTableDialect, schema?: string): Omit<PayloadTableSql, 'upgrade'> {
  if (dialect === 'postgresql') {
    const table = schema ? `"${schema}"."${OUTBOX_TABLE}"` : `"${OUTBOX_TABLE}"`;
    return {
      up: [`create table if not exists ${table} ("id" serial primary key, "entry" text not null, "created_at" timestamptz not null);`],
      down: [`drop table if exists ${table} cascade;`],
    };
  }
  if (dialect === 'sqlite') {
    return {
      up: [`create table if not exists \`${OUTBOX_TABLE}\` (\`id\` integer not null primary key autoincrement, \`entry\` text not null, ` +
        '`created_at` datetime not null);'],
      down: [`drop table if exists \`${OUTBOX_TABLE}\`;`],
    };
  }
  if (dialect === 'mysql' || dialect === 'mariadb') {
    const table = schema ? `\`${schema}\`.\`${OUTBOX_TABLE}\`` : `\`${OUTBOX_TABLE}\``;
    return {
      up: [`create table if not exists ${table} (\`id\` int unsigned not null auto_increment primary key, \`entry\` text not null, ` +
        '`created_at` datetime not null) default character set utf8mb4 engine = InnoDB;'],
      down: [`drop table if exists ${table};`],
    };
  }
  throw new ConfigurationError(
    `outboxTableSql: no statements for "${String(dialect)}": sync-machine ships them for 'postgresql', 'sqlite', 'mysql' and 'mariadb'; ` +
    `on another database let MikroORM create the table from the SyncMachineOutbox entity.${minified(dialect)}`);
}

/** Creates `sync_machine_outbox` unless it exists: run it once at deploy, like a migration. */
export async function createOutboxTable(orm: MikroORM): Promise<void> {
  for (const sql of outboxTableSql(dialectOf(orm), schemaOf(orm)).up) await orm.em.getConnection('write').execute(sql);
}

/** Drops `sync_machine_outbox`: the migration's `down`. */
export async function dropOutboxTable(orm: MikroORM): Promise<void> {
  for (const sql of outboxTableSql(dialectOf(orm), schemaOf(orm)).down) await orm.em.getConnection('write').execute(sql);
}

/**
 * The platform class names the dialect (SqlitePlatform, BetterSqlitePlatform, LibSqlPlatform, PostgreSqlPlatform,
 * MySqlPlatform, MariaDbPlatform).
 */
export function dialectOf(orm: MikroORM): PayloadTableDialect {
  const names: string[] = [];
  for (let proto = Object.getPrototypeOf(orm.em.getPlatform()); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    names.push(proto.constructor.name);
  }
  if (names.some((n) => /postgre/i.test(n))) return 'postgresql';
  if (names.some((n) => /sqlite/i.test(n))) return 'sqlite';
  if (names.some((n) => /mysql|mariadb/i.test(n))) return 'mysql';
  return names[0] as PayloadTableDialect; // refused by payloadTableSql, with the fix
}

function schemaOf(orm: MikroORM): string | undefined {
  return orm.config.get('schema') ?? undefined;
}

/**
 * createPayloadTable(orm) tells the database by the platform's class name, which a minifier shortens: a trial's
 * esbuild --minify read "QR" and was sent to create the table by hand.
 */
function minified(dialect: unknown): string {
  return typeof dialect === 'string' && /^[A-Za-z_$][\w$]?$/.test(dialect)
    ? ` ("${dialect}" reads as a minifier's name for MikroORM's platform class: bundle with --keep-names.)` : '';
}
