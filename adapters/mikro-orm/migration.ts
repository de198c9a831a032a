import type { MikroORM } from '@mikro-orm/core';
import { ConfigurationError } from '../../lib/errors';
import { OUTBOX_TABLE } from './outbox-entity';
import { PAYLOAD_TABLE } from './payload-entity';

export type PayloadTableDialect = 'postgresql' | 'sqlite';

export interface PayloadTableSql {
  up: string[];
  down: string[];
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
        `"published_at" timestamptz null, constraint "${PAYLOAD_TABLE}_pkey" primary key ("machine", "subject_id"));`],
      down: [`drop table if exists ${table} cascade;`],
    };
  }
  if (dialect === 'sqlite') {
    return {
      up: [`create table if not exists \`${PAYLOAD_TABLE}\` (\`machine\` text not null, \`subject_id\` text not null, ` +
        '`body` text not null, `digest` text not null, `generated_at` datetime not null, `published_at` datetime null, ' +
        'primary key (`machine`, `subject_id`));'],
      down: [`drop table if exists \`${PAYLOAD_TABLE}\`;`],
    };
  }
  throw new ConfigurationError(
    `payloadTableSql: no statements for "${String(dialect)}": sync-machine ships them for 'postgresql' and 'sqlite'; ` +
    'on another database let MikroORM create the table from the SyncMachinePayload entity (orm.schema.updateSchema(), ' +
    'or `npx mikro-orm migration:create`).');
}

/** Creates `sync_machine_payloads` on the ORM's database unless it exists: run it once at deploy, like a migration. */
export async function createPayloadTable(orm: MikroORM): Promise<void> {
  for (const sql of payloadTableSql(dialectOf(orm), schemaOf(orm)).up) await orm.em.getConnection('write').execute(sql);
}

/** Drops `sync_machine_payloads`: the migration's `down`. */
export async function dropPayloadTable(orm: MikroORM): Promise<void> {
  for (const sql of payloadTableSql(dialectOf(orm), schemaOf(orm)).down) await orm.em.getConnection('write').execute(sql);
}

/**
 * The statements that create and drop `sync_machine_outbox` (capture: 'outbox'), as MikroORM's schema generator
 * writes them for SyncMachineOutbox. Plain SQL for any migration tool, like payloadTableSql().
 */
export function outboxTableSql(dialect: PayloadTableDialect, schema?: string): PayloadTableSql {
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
  throw new ConfigurationError(
    `outboxTableSql: no statements for "${String(dialect)}": sync-machine ships them for 'postgresql' and 'sqlite'; ` +
    'on another database let MikroORM create the table from the SyncMachineOutbox entity.');
}

/** Creates `sync_machine_outbox` unless it exists: run it once at deploy, like a migration. */
export async function createOutboxTable(orm: MikroORM): Promise<void> {
  for (const sql of outboxTableSql(dialectOf(orm), schemaOf(orm)).up) await orm.em.getConnection('write').execute(sql);
}

/** Drops `sync_machine_outbox`: the migration's `down`. */
export async function dropOutboxTable(orm: MikroORM): Promise<void> {
  for (const sql of outboxTableSql(dialectOf(orm), schemaOf(orm)).down) await orm.em.getConnection('write').execute(sql);
}

/** The platform class names the dialect (SqlitePlatform, BetterSqlitePlatform, LibSqlPlatform, PostgreSqlPlatform). */
function dialectOf(orm: MikroORM): PayloadTableDialect {
  const names: string[] = [];
  for (let proto = Object.getPrototypeOf(orm.em.getPlatform()); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    names.push(proto.constructor.name);
  }
  if (names.some((n) => /postgre/i.test(n))) return 'postgresql';
  if (names.some((n) => /sqlite/i.test(n))) return 'sqlite';
  return names[0] as PayloadTableDialect; // refused by payloadTableSql, with the fix
}

function schemaOf(orm: MikroORM): string | undefined {
  return orm.config.get('schema') ?? undefined;
}
