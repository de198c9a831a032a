import type { Logger } from '../logger';
import type { CapturedChange, EntityClass } from '../ports';
import { longerThan } from './column-bytes';

/*
 * The one format of the outbox (SPEC §6.3, `capture: 'outbox'`): each captured change is a row of
 * `sync_machine_outbox`, written in the same transaction as the application's write, and deleted by a relay once
 * the change is recorded in Redis. `entry` is JSON: { e: entity class name, id, op, k: changed keys, s?: snapshot,
 * b?: the row's values before updates that moved it }.
 */

/** A row of `sync_machine_outbox`. */
export interface SyncMachineOutboxRow {
  /** Increasing, so the relay moves changes oldest first. */
  id: number;
  entry: string;
  createdAt: Date;
}

export const OUTBOX_ENTITY_NAME = 'SyncMachineOutbox';
export const OUTBOX_TABLE = 'sync_machine_outbox';

/** The `entry` of a captured change. */
export function encodeOutboxEntry(change: CapturedChange): string {
  return JSON.stringify({ e: change.entity.name, id: change.id, op: change.op, k: change.changedKeys, s: change.snapshot, b: change.before });
}

/**
 * The `entry` of a captured change, in at most `limit` bytes when the column has one (MySQL's TEXT): a removal's
 * snapshot loses its longest values first until it fits (a row with a long text column made the entry too long,
 * and the insert failed the application's own write). `dropped` names the snapshot's keys left out.
 */
export function fitOutboxEntry(change: CapturedChange, limit: number | undefined): { entry: string; dropped: string[] } {
  const entry = encodeOutboxEntry(change);
  if (!longerThan(entry, limit)) return { entry, dropped: [] };
  // A move's earlier values go first: without them only the parent it left is not mapped.
  if (change.before) {
    const { entry: without, dropped } = fitOutboxEntry({ ...change, before: undefined }, limit);
    return { entry: without, dropped: [EARLIER_VALUES, ...dropped] };
  }
  if (!change.snapshot) return { entry, dropped: [] };
  const snapshot = { ...change.snapshot };
  const longestFirst = Object.keys(snapshot)
    .map((key) => ({ key, bytes: Buffer.byteLength(JSON.stringify(snapshot[key]) ?? '') }))
    .sort((a, b) => b.bytes - a.bytes);
  const dropped: string[] = [];
  for (const { key } of longestFirst) {
    delete snapshot[key];
    dropped.push(key);
    if (dropped.length === longestFirst.length) break;
    const smaller = encodeOutboxEntry({ ...change, snapshot });
    if (!longerThan(smaller, limit)) return { entry: smaller, dropped };
  }
  return { entry: encodeOutboxEntry({ ...change, snapshot: undefined }), dropped };
}

/** Names, among the dropped keys, the earlier values of a move (CapturedChange.before). */
export const EARLIER_VALUES = '(its earlier values)';

/** The entries of one outbox table: fitted to its `entry` column (read at start), each shortening said once. */
export class OutboxEntries {
  /** The most bytes the `entry` column holds, when a snapshot may outgrow it (MySQL's TEXT). */
  limit?: number;
  private readonly told = new Set<string>();

  constructor(private readonly logger: Logger) {}

  entryOf(change: CapturedChange): string {
    const { entry, dropped } = fitOutboxEntry(change, this.limit);
    const movedKey = `${change.entity.name}\n${EARLIER_VALUES}`;
    const droppedBefore = dropped[0] === EARLIER_VALUES;
    if (droppedBefore) dropped.shift();
    if (droppedBefore && !this.told.has(movedKey)) {
      this.told.add(movedKey);
      this.logger.warn(`sync-machine: the move of ${change.entity.name} ${change.id} went into ${OUTBOX_TABLE} without its ` +
        `values before the move: with them the entry was longer than the entry column holds (${this.limit} bytes). So ` +
        `@SubjectIdsFrom(${change.entity.name}) is not called for them, and the subjects it left are not republished: ` +
        `resync them, or widen the column: ALTER TABLE ${OUTBOX_TABLE} MODIFY entry LONGTEXT NOT NULL (said once per entity).`);
    }
    const key = `${change.entity.name}\n${dropped.join('\n')}`;
    if (dropped.length > 0 && !this.told.has(key)) {
      this.told.add(key);
      const whole = dropped.length === Object.keys(change.snapshot ?? {}).length;
      const left = whole ? 'its snapshot' : `its snapshot's ${dropped.join(', ')}`;
      this.logger.warn(`sync-machine: the removal of ${change.entity.name} ${change.id} went into ${OUTBOX_TABLE} without ` +
        `${left}: with them the entry was longer than the entry column holds (${this.limit} bytes), and its insert would have failed your write. ` +
        `A @SubjectIdsFrom(${change.entity.name}) gets the snapshot without them (said once per entity and columns). To keep ` +
        `them, widen the column: ALTER TABLE ${OUTBOX_TABLE} MODIFY entry LONGTEXT NOT NULL (out of the ORM's schema sync, ` +
        'which would narrow it again).');
    }
    return entry;
  }
}

/** A stored entry back as a change; undefined (with why) when it names no watched entity or is not ours. */
export function decodeOutboxEntry(
  entry: string, entities: ReadonlyMap<string, EntityClass>,
): { change: CapturedChange } | { problem: string } {
  let raw: { e?: unknown; id?: unknown; op?: unknown; k?: unknown; s?: unknown; b?: unknown };
  try { raw = JSON.parse(entry); } catch { return { problem: 'not JSON' }; }
  if (!raw || typeof raw !== 'object') return { problem: 'not an object' };
  const entity = typeof raw.e === 'string' ? entities.get(raw.e) : undefined;
  if (!entity) return { problem: `entity ${JSON.stringify(raw.e)} is not listened to by any started machine` };
  if (typeof raw.id !== 'string' || !['insert', 'update', 'remove'].includes(raw.op as string) || !Array.isArray(raw.k)) {
    return { problem: 'id, op or changed keys missing' };
  }
  const snapshot = raw.s && typeof raw.s === 'object' ? raw.s as Record<string, unknown> : undefined;
  const change: CapturedChange = { entity, id: raw.id, op: raw.op as CapturedChange['op'], changedKeys: raw.k.map(String), snapshot };
  if (Array.isArray(raw.b)) change.before = raw.b.filter((v): v is Record<string, unknown> => Boolean(v) && typeof v === 'object');
  return { change };
}
