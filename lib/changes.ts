import type { CapturedChange, ChangeOp } from './ports';

/** The changes of one transaction (or savepoint), one per row. */
export type ChangeFrame = Map<string, CapturedChange>;

/** Several writes of one row in one transaction become one change: keys united, the last op and snapshot win. */
export function mergeChange(frame: ChangeFrame, change: CapturedChange): void {
  const key = `${change.entity.name}\n${change.id}`;
  frame.set(key, mergedChange(frame.get(key), change));
}

/** `change` written after `previous` (of the same row, if any) as one change. */
export function mergedChange(previous: CapturedChange | undefined, change: CapturedChange): CapturedChange {
  // Kept as given: a merge builds a new change and never writes into either (nor into their keys).
  if (!previous) return change;
  const keys = new Set([...previous.changedKeys, ...change.changedKeys]);
  const op: ChangeOp = change.op === 'remove' ? 'remove' : previous.op === 'insert' ? 'insert' : change.op;
  return {
    ...change, op, changedKeys: [...keys], snapshot: change.snapshot ?? previous.snapshot,
    before: previous.before && change.before ? unitedBefore(previous.before, change.before) : previous.before ?? change.before,
  };
}

/** The rows' earlier values of merged moves, each once. */
export function unitedBefore(...lists: Array<Array<Record<string, unknown>>>): Array<Record<string, unknown>> {
  const byJson = new Map<string, Record<string, unknown>>();
  for (const list of lists) for (const values of list) byJson.set(JSON.stringify(values), values);
  return [...byJson.values()];
}
