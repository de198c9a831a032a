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

/** The subject lock expired before publishing: the run stops so that it cannot publish stale data. */
export class LockLostError extends SyncMachineError {}

/**
 * The subject lock expired while its publish was in flight (found right after the call returned): the API may
 * now hold this run's payload while another run published a newer one, so nothing is stored and the subject
 * runs again, publishing even an unchanged payload.
 */
export class LockLostWhilePublishingError extends LockLostError {}

/** `drain()` gave up waiting. */
export class DrainTimeoutError extends SyncMachineError {}

/** An error's message; with its cause's where the message alone says little (fetch's "fetch failed"). */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (error instanceof SyncMachineError || !(cause instanceof Error) || error.message.includes(cause.message)) return error.message;
  const code = (cause as { code?: unknown }).code;
  return `${error.message} (${typeof code === 'string' && !cause.message.includes(code) ? `${code}: ` : ''}${cause.message})`;
}
