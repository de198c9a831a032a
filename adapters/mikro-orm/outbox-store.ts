import type { EntityManager, MikroORM, Transaction } from '@mikro-orm/core';
import { ConfigurationError, describeError } from '../../lib/errors';
import type { CapturedChange, OutboxEntry, OutboxStore } from '../../lib/ports';
import type { Logger } from '../../lib/logger';
import { OutboxEntries } from '../../lib/store/outbox-row';
import { textColumnBytes } from './column-bytes';
import { OUTBOX_ENTITY_NAME, OUTBOX_TABLE, SyncMachineOutboxRow } from './outbox-entity';

/** The outbox on the app's own MikroORM instance, one fresh fork per call. */
export class MikroOrmOutboxStore implements OutboxStore {
  private readonly entries: OutboxEntries;

  constructor(private readonly orm: MikroORM, logger: Logger) {
    this.entries = new OutboxEntries(logger);
  }

  /** Inserts the changes in `ctx`, the write's own transaction (or savepoint), so they commit or roll back with it. */
  async write(em: EntityManager, changes: CapturedChange[], ctx: Transaction | undefined): Promise<void> {
    if (changes.length === 0) return;
    const createdAt = new Date();
    // A native insert: it fires no events, so the subscriber does not see its own rows.
    await em.insertMany<SyncMachineOutboxRow>(OUTBOX_ENTITY_NAME,
      changes.map((change) => ({ entry: this.entries.entryOf(change), createdAt })) as SyncMachineOutboxRow[], { ctx });
  }

  async oldest(limit: number): Promise<OutboxEntry[]> {
    const rows = await this.orm.em.fork().find<SyncMachineOutboxRow>(OUTBOX_ENTITY_NAME, {},
      { orderBy: { id: 'asc' }, limit, fields: ['id', 'entry'] as never });
    return rows.map((row) => ({ id: String(row.id), entry: row.entry }));
  }

  async remove(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.orm.em.fork().nativeDelete<SyncMachineOutboxRow>(OUTBOX_ENTITY_NAME, { id: { $in: ids.map(Number) } });
  }

  count(): Promise<number> {
    return this.orm.em.fork().count<SyncMachineOutboxRow>(OUTBOX_ENTITY_NAME, {});
  }

  async check(): Promise<void> {
    if (!this.orm.getMetadata().has(OUTBOX_ENTITY_NAME)) {
      throw new ConfigurationError("capture: 'outbox' needs the SyncMachineOutbox entity: import { SyncMachineOutbox } from " +
        "'sync-machine/mikro-orm', add it to `entities`, and create its table with createOutboxTable(orm) (or outboxTableSql() in a migration).");
    }
    try {
      await this.orm.em.fork().find<SyncMachineOutboxRow>(OUTBOX_ENTITY_NAME, {}, { limit: 1 });
      this.entries.limit = await textColumnBytes(this.orm, OUTBOX_TABLE, 'entry');
    } catch (error) {
      throw new ConfigurationError(`The outbox table ${OUTBOX_TABLE} cannot be read (${describeError(error)}): create it with ` +
        "`await createOutboxTable(orm)` from 'sync-machine/mikro-orm' (or outboxTableSql() in your migration).", { cause: error });
    }
  }
}
