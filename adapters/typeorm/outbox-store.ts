import { DataSource, EntityManager, In, Repository } from 'typeorm';
import { ConfigurationError, describeError } from '../../lib/errors';
import type { CapturedChange, OutboxEntry, OutboxStore } from '../../lib/ports';
import type { Logger } from '../../lib/logger';
import { OutboxEntries } from '../../lib/store/outbox-row';
import { textColumnBytes } from './column-bytes';
import { OUTBOX_ENTITY_NAME, OUTBOX_TABLE, SyncMachineOutboxRow } from './outbox-entity';

/** Outbox rows per INSERT: 1,000 bound values, far within every driver's limit (SQLite's is 32,766). */
const ROWS_PER_INSERT = 500;
/** UTF-16 units of entries per INSERT: at most 3 bytes each in UTF-8, within MariaDB's default 16 MB max_allowed_packet. */
const CHARS_PER_INSERT = 4 * 1024 * 1024;

/** Inserts outbox rows without reading their ids back and without calling entity subscribers (ours among them). */
function insertRows(manager: EntityManager, rows: Array<{ entry: string; createdAt: Date }>): Promise<unknown> {
  return manager.createQueryBuilder().insert().into(OUTBOX_ENTITY_NAME).values(rows).updateEntity(false).callListeners(false).execute();
}

/** The outbox on the app's own DataSource. */
export class TypeOrmOutboxStore implements OutboxStore {
  private readonly entries: OutboxEntries;

  constructor(private readonly dataSource: DataSource, logger: Logger) {
    this.entries = new OutboxEntries(logger);
  }

  private get repo(): Repository<SyncMachineOutboxRow> {
    return this.dataSource.getRepository<SyncMachineOutboxRow>(OUTBOX_ENTITY_NAME);
  }

  /**
   * Writes the changes through `manager`: the transaction's own, so they commit or roll back with the write. A
   * transaction's changes go in together, a few hundred rows per INSERT: one statement for all of a 100,000-row
   * transaction would pass the databases' limits on bound parameters and on a statement's size.
   */
  async write(manager: EntityManager, changes: CapturedChange[]): Promise<void> {
    const createdAt = new Date();
    let rows: Array<{ entry: string; createdAt: Date }> = [];
    let chars = 0;
    for (const change of changes) {
      const entry = this.entries.entryOf(change);
      if (rows.length === ROWS_PER_INSERT || (rows.length > 0 && chars + entry.length > CHARS_PER_INSERT)) {
        await insertRows(manager, rows);
        rows = [];
        chars = 0;
      }
      rows.push({ entry, createdAt });
      chars += entry.length;
    }
    if (rows.length > 0) await insertRows(manager, rows);
  }

  async oldest(limit: number): Promise<OutboxEntry[]> {
    const rows = await this.repo.find({ select: { id: true, entry: true }, order: { id: 'ASC' }, take: limit });
    return rows.map((row) => ({ id: String(row.id), entry: row.entry }));
  }

  async remove(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.repo.delete({ id: In(ids.map(Number)) });
  }

  count(): Promise<number> {
    return this.repo.count();
  }

  async check(): Promise<void> {
    if (!this.dataSource.hasMetadata(OUTBOX_ENTITY_NAME)) {
      throw new ConfigurationError("capture: 'outbox' needs the SyncMachineOutbox entity: import { SyncMachineOutbox } from " +
        "'sync-machine/typeorm', add it to your DataSource's `entities` and CreateSyncMachineOutbox1764892800000 to `migrations`.");
    }
    try {
      await this.repo.createQueryBuilder('o').select('o.id').limit(1).getRawMany();
      this.entries.limit = await textColumnBytes(this.dataSource, this.repo.metadata, 'entry');
    } catch (error) {
      throw new ConfigurationError(
        `The outbox table ${OUTBOX_TABLE} cannot be read (${describeError(error)}): add CreateSyncMachineOutbox1764892800000 ` +
        "from 'sync-machine/typeorm' to your DataSource's migrations and run them (or use synchronize in development).",
        { cause: error });
    }
  }
}
