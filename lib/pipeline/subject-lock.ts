import Redlock, { ExecutionError, Lock, ResourceLockedError } from 'redlock';

/** Why a run stopped holding its lock, if it did. */
export interface LockState {
  lost?: Error;
}

/**
 * Runs `routine` holding the lock on `key`, extending it while the routine runs. Resolves `{ held: false }`
 * at once when another run holds it. Unlike Redlock's using(), a failed release (the lock already
 * expired) does not replace the routine's own outcome.
 */
export async function withSubjectLock<T>(
  redlock: Redlock, key: string, ttlMs: number, routine: (state: LockState) => Promise<T>,
): Promise<{ held: false } | { held: true; value: T }> {
  let lock: Lock;
  try {
    lock = await redlock.acquire([key], ttlMs, { retryCount: 0 });
  } catch (error) {
    if (await isHeldElsewhere(error)) return { held: false };
    throw error;
  }
  const state: LockState = {};
  let timer: NodeJS.Timeout | undefined;
  const extendSoon = () => {
    timer = setTimeout(async () => {
      try {
        lock = await lock.extend(ttlMs);
        extendSoon();
      } catch (error) {
        state.lost = error as Error;
      }
    }, Math.max(10, lock.expiration - Date.now() - Math.min(1000, ttlMs / 3)));
  };
  extendSoon();
  try {
    return { held: true, value: await routine(state) };
  } finally {
    clearTimeout(timer);
    await lock.release().catch(() => undefined); // expired or taken over: nothing of ours to release
  }
}

async function isHeldElsewhere(error: unknown): Promise<boolean> {
  if (!(error instanceof ExecutionError)) return false;
  const stats = await Promise.all(error.attempts);
  return stats.some((s) => [...s.votesAgainst.values()].some((e) => e instanceof ResourceLockedError));
}
