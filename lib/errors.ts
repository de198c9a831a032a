/** The one base error: every error sync-machine throws or records is one of these. */
export class SyncMachineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Misuse found at start: names the class and says the fix. */
export class ConfigurationError extends SyncMachineError {}

/** A job that cannot run as written (malformed or unknown data); retrying will not help. */
export class InvalidJobError extends SyncMachineError {}

/** A user hook threw or returned something unusable; names machine, step, entity and id. */
export class HookError extends SyncMachineError {}

/**
 * `@Publish` or `@Unpublish` threw (a 500, a timeout, a reset connection): its call may have reached the partner API
 * all the same. Same message as the HookError it wraps; the log says what the retry does about it.
 */
export class CallOutcomeUnknownError extends HookError {
  constructor(readonly hook: 'publish' | 'unpublish', readonly version: number, error: HookError) {
    super(error.message, { cause: error.cause });
  }
}

/** The subject lock expired before publishing: the run stops so that it cannot publish stale data. */
export class LockLostError extends SyncMachineError {}

/**
 * Thrown by `@Publish` or `@Unpublish` when the partner API asks to slow down (a 429 with Retry-After): the machine's
 * publishing pauses on every worker for `delayMs`, its subjects stay pending (changes keep coalescing), no attempt
 * is charged and nothing is failed.
 */
export class RetryAfter extends SyncMachineError {
  readonly delayMs: number;

  constructor(delayMs: number, reason = 'the partner API asked to retry later') {
    super(`${reason} (retry after ${delayMs} ms)`);
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new ConfigurationError(`new RetryAfter(${delayMs}): the delay must be a number of milliseconds, 0 or more.`);
    }
    this.delayMs = Math.min(Math.round(delayMs), MAX_RETRY_AFTER_MS);
  }

  /** The RetryAfter a hook threw, if that is why `error` (a HookError wrapping it, say) happened. */
  static in(error: unknown): RetryAfter | undefined {
    for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth += 1) {
      if (e instanceof RetryAfter) return e;
    }
    return undefined;
  }
}

/** A pause longer than a day is taken as a day: a misread header must not stop a machine for good. */
const MAX_RETRY_AFTER_MS = 24 * 3600 * 1000;

/**
 * The subject lock expired while its publish was in flight (found right after the call returned): the API may
 * now hold this run's payload while another run published a newer one, so nothing is stored and the subject
 * runs again, publishing even an unchanged payload.
 */
export class LockLostWhilePublishingError extends LockLostError {}

/**
 * A key under the prefix holds another Redis type than sync-machine keeps there (written by hand, or by a bad
 * deploy): Redis refuses every command given it until it is deleted. Names the key and the fix.
 */
export class WrongKeyTypeError extends SyncMachineError {}

/** `drain()` gave up waiting. */
export class DrainTimeoutError extends SyncMachineError {}

/**
 * An option's value as a message shows it: a string in quotes, so that '100' where a number belongs does not read as
 * the number 100.
 */
export function shownValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** A value as JSON where it has a JSON form (an entity shows its columns), cut at 60 characters; else as shownValue says it. */
export function shownJson(value: unknown): string {
  if (typeof value === 'object' && value !== null) {
    try {
      const json = JSON.stringify(value);
      return json.length > 60 ? `${json.slice(0, 57)}...` : json;
    } catch {
      return shownValue(value);
    }
  }
  return shownValue(value);
}

/** An error's message; with its cause's where the message alone says little (fetch's "fetch failed"). */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (error instanceof SyncMachineError || !(cause instanceof Error) || error.message.includes(cause.message)) return error.message;
  const code = (cause as { code?: unknown }).code;
  return `${error.message} (${typeof code === 'string' && !cause.message.includes(code) ? `${code}: ` : ''}${cause.message})`;
}

/** The first `limit` names, comma-separated, and how many more there are: a long list in one log line. */
export function listed(names: string[], limit: number): string {
  return names.slice(0, limit).join(', ') + (names.length > limit ? ` and ${names.length - limit} more` : '');
}
