import type { CapturedChange, EntityClass } from '../ports';

/*
 * The one format of the outbox (SPEC §6.3, `capture: 'outbox'`): each captured change is a row of
 * `sync_machine_outbox`, written in the same transaction as the application's write, and deleted by a relay once
 * the change is recorded in Redis. `entry` is JSON: { e: entity class name, id, op, k: changed keys, s?: snapshot }.
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
  return JSON.stringify({ e: change.entity.name, id: change.id, op: change.op, k: change.changedKeys, s: change.snapshot });
}

/** A stored entry back as a change; undefined (with why) when it names no watched entity or is not ours. */
export function decodeOutboxEntry(
  entry: string, entities: ReadonlyMap<string, EntityClass>,
): { change: CapturedChange } | { problem: string } {
  let raw: { e?: unknown; id?: unknown; op?: unknown; k?: unknown; s?: unknown };
  try { raw = JSON.parse(entry); } catch { return { problem: 'not JSON' }; }
  if (!raw || typeof raw !== 'object') return { problem: 'not an object' };
  const entity = typeof raw.e === 'string' ? entities.get(raw.e) : undefined;
  if (!entity) return { problem: `entity ${JSON.stringify(raw.e)} is not listened to by any started machine` };
  if (typeof raw.id !== 'string' || !['insert', 'update', 'remove'].includes(raw.op as string) || !Array.isArray(raw.k)) {
    return { problem: 'id, op or changed keys missing' };
  }
  const snapshot = raw.s && typeof raw.s === 'object' ? raw.s as Record<string, unknown> : undefined;
  return { change: { entity, id: raw.id, op: raw.op as CapturedChange['op'], changedKeys: raw.k.map(String), snapshot } };
}
