import type { CapturedChange, ChangeOp } from './ports';

/** The changes of one transaction (or savepoint), one per row. */
export type ChangeFrame = Map<string, CapturedChange>;

/** Several writes of one row in one transaction become one change: keys united, the last op and snapshot win. */
export function mergeChange(frame: ChangeFrame, change: CapturedChange): void {
  const key = `${change.entity.name}\n${change.id}`;
  const previous = frame.get(key);
  if (!previous) {
    // Kept as given: a merge below builds a new change and never writes into this one (nor into its keys).
    frame.set(key, change);
    return;
  }
  const keys = new Set([...previous.changedKeys, ...change.changedKeys]);
  const op: ChangeOp = change.op === 'remove' ? 'remove' : previous.op === 'insert' ? 'insert' : change.op;
  frame.set(key, { ...change, op, changedKeys: [...keys], snapshot: change.snapshot ?? previous.snapshot });
}
