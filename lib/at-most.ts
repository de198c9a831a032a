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
