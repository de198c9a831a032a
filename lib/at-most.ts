/**
 * Waits for `look` up to `ms`; a look still going then goes on, and a failure after that goes to `failed` (within
 * the time it is thrown, as before).
 */
export async function atMost(ms: number, look: Promise<void>, failed: (error: unknown) => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let late = false;
  const wait = new Promise<void>((resolve) => { timer = setTimeout(() => { late = true; resolve(); }, ms); timer.unref(); });
  const watched = look.catch((error: unknown) => {
    if (!late) throw error;
    failed(error);
  });
  try {
    await Promise.race([watched, wait]);
  } finally {
    clearTimeout(timer);
  }
}

/** What withTimeout rejects with: the work had not settled in time (it goes on). */
export class NoAnswerError extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

/** `work`, or a NoAnswerError ("no answer within `ms` ms") when it has not settled by then; `work` itself goes on. */
export function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NoAnswerError(ms)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
