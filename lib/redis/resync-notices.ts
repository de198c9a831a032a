import type Redis from 'ioredis';
import { lostRecord } from './data-loss';
import type { KeySpace } from './keys';
import { withScripts } from './scripts';
import { type UnreadableNotice, unreadableNotice } from './unreadable';

/*
 * The two notices that stand until a full resync of their machine: a data loss Redis was found to have had
 * (keys.dataLost, a string of Redis' ms) and inbox entries no script could read (keys.unreadable, a hash with `at`).
 * Each says that changes may be gone, which only a full resync covers; status reads them with its own pipeline.
 */

/** The notices that stand for these machines, by machine: what drain() tells beside its outcomes. */
export interface ResyncNotices {
  dataLost: Map<string, { at: Date; maybeNewPrefix: boolean }>;
  unreadable: Map<string, UnreadableNotice>;
}

/** Reads both notices of every machine in one round trip. A value not of sync-machine's form (by hand) is left out. */
export async function readResyncNotices(client: Redis, keys: KeySpace, machines: string[]): Promise<ResyncNotices> {
  const pipeline = client.pipeline();
  for (const machine of machines) pipeline.get(keys.dataLost(machine)).hgetall(keys.unreadable(machine));
  const results = (await pipeline.exec()) ?? [];
  const notices: ResyncNotices = { dataLost: new Map(), unreadable: new Map() };
  machines.forEach((machine, i) => {
    const [[lostError, lost], [unreadableError, unreadable]] = [results[2 * i], results[2 * i + 1]];
    if (lostError || unreadableError) throw lostError ?? unreadableError;
    const record = lostRecord(lost);
    if (record) notices.dataLost.set(machine, record);
    const notice = unreadableNotice(unreadable);
    if (notice) notices.unreadable.set(machine, notice);
  });
  return notices;
}

/**
 * After a full resync of `machine` that began at `since` (Redis' ms) was recorded: deletes each notice found before
 * then (clear-notices-2.lua). Best effort: a notice left says it once more, which is harmless.
 */
export async function clearResyncNotices(client: Redis, keys: KeySpace, machine: string, since: number): Promise<void> {
  await withScripts(client).smClearNotices(keys.dataLost(machine), keys.unreadable(machine), since).catch(() => undefined);
}
