import type Redis from 'ioredis';
import { NoAnswerError, withTimeout } from '../at-most';
import { ConfigurationError, describeError, SyncMachineError } from '../errors';
import { writesRefused } from './availability';
import type { RedisSettings } from './connection';

/** The wait was called off (a stop signal) before Redis answered. */
export class RedisWaitAbortedError extends SyncMachineError {}

export interface WaitForRedisOptions {
  /** Aborting it ends the wait at once with RedisWaitAbortedError. */
  signal?: AbortSignal;
  /** Called after each failed try, before the pause: say so, once per try. */
  onWait?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  /** First pause; doubles up to `maxDelayMs`. Defaults 250 ms and 5 s. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Named in the ACL fix of a refusal. */
  prefix?: string;
}

/** Errors that mean "not answering yet" (down, restarting, loading its data), as opposed to a wrong setting. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN']);

export function isUnreachable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: string; message?: string };
  if (code && UNREACHABLE_CODES.has(code)) return true;
  return /^(LOADING|MASTERDOWN|TRYAGAIN)\b|Connection is closed|connect ETIMEDOUT|Socket closed unexpectedly/.test(message ?? '');
}

/**
 * A command lost with the connection: ioredis gave up on it after its maxRetriesPerRequest reconnections (it may
 * have been sent before the connection dropped), or Redis was not there or not ready. Whether it ran is unknown.
 */
export function lostConnection(error: unknown): boolean {
  return (error as { name?: unknown } | undefined)?.name === 'MaxRetriesPerRequestError' || isUnreachable(error);
}

/** One PING on a connection of its own that neither retries nor queues: resolves, or rejects with why not. */
export async function pingOnce(settings: RedisSettings, timeoutMs = 2000): Promise<void> {
  const client: Redis = settings.createClient({
    lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null,
    connectTimeout: timeoutMs, commandTimeout: timeoutMs, enableReadyCheck: true,
  });
  let cause: unknown;
  client.on('error', (error) => { cause ??= error; });
  const look = async () => {
    await client.connect();
    await client.ping();
    // ioredis selects the database on connect, but a failed SELECT only emits an error and leaves the connection
    // on database 0: a trial's /16 and /99 started, and wrote every key there.
    if (settings.db > 0) await client.select(settings.db);
  };
  try {
    // One bound for the whole look: against a stopped (SIGSTOPped) Redis the socket connects, and ioredis' ready
    // check and PING each waited their own timeout (22 s for the CLI's 10 s, a trial's "Command timed out").
    await withTimeout(look(), timeoutMs);
  } catch (error) {
    if (error instanceof NoAnswerError) throw silence(timeoutMs, client.status);
    throw cause ?? error; // ioredis rejects with "Connection is closed."; the socket's error says why
  } finally {
    client.disconnect();
  }
}

/** Why a look got no answer in time, as an unreachable error (ETIMEDOUT): waiting may mend it. */
function silence(timeoutMs: number, status: string): Error {
  const open = status === 'connect' || status === 'ready';
  const error = new Error(open
    ? `did not answer within ${timeoutMs / 1000} s, with its connection open: a stopped process, or a network that drops packets?`
    : `no connection within ${timeoutMs / 1000} s (connect timed out)`) as Error & { code: string };
  error.code = 'ETIMEDOUT';
  return error;
}

/**
 * Start-up check on a connection of its own, before Bee-Queue opens any: a wrong password or an unverifiable
 * certificate then fails start() with this error instead of crashing the process (Bee-Queue's node_redis
 * client emits a second, unhandled error on a failed AUTH). With `mayBeDown`, a Redis that is only not answering
 * (down, restarting) is no error: resolves with why it did not answer, and undefined when it did.
 */
export async function checkRedis(settings: RedisSettings, options: { mayBeDown?: boolean; prefix?: string } = {}): Promise<unknown> {
  try {
    await pingOnce(settings, 10_000);
    return undefined;
  } catch (error) {
    if (options.mayBeDown && isUnreachable(error)) return error;
    throw redisRefusal(settings, error, options.prefix);
  }
}

/**
 * Why Redis could not be used, with the fix for what it said: a trial read "Cannot reach Redis … Start Redis" for
 * a wrong password, an ACL user without channels and a Redis out of memory, each of which answered.
 */
export function redisRefusal(settings: RedisSettings, error: unknown, prefix = '<prefix>'): ConfigurationError {
  if (error instanceof ConfigurationError) return error; // said already (Bee-Queue's scripts missing from a bundle)
  const said = describeError(error).replace(/\.+$/, '');
  const at = `Redis at ${settings.describe}`;
  const refusal = (message: string) => new ConfigurationError(message, { cause: error });
  if (/DB index is out of range/.test(said)) {
    return refusal(`${at} has no database ${settings.db} (${said}): use one it has, 0 to 15 unless its \`databases\` ` +
      'setting says more, in the URL (redis://host:6379/0) or as `db`.');
  }
  if (/^WRONGPASS\b|invalid (username-)?password/i.test(said)) {
    return refusal(`${at} refused the credentials (${said}): fix the user and password in the \`redis\` option ` +
      '(redis://user:password@host:6379/0, or `username` and `password`).');
  }
  if (/^NOAUTH\b/.test(said)) {
    return refusal(`${at} needs a password (${said}): add it to the \`redis\` option (redis://:password@host:6379/0, or ` +
      '`password`; with an ACL user, redis://user:password@…).');
  }
  if (/^NOPERM\b/.test(said)) {
    // The grant for what was refused alone: a whole `~p:* &p:* +@all` is refused by Redis for a user that has `~*`
    // ("Adding a pattern after the * pattern … is not valid"), and granted nothing (a trial pasted it).
    const grant = /channel/i.test(said) ? `&${prefix}:*` : /\bkeys?\b/i.test(said) ? `~${prefix}:*` : '+@all';
    return refusal(`${at} refused a command to its ACL user (${said}): sync-machine reads and writes the keys under its ` +
      'prefix, runs Lua scripts, and its workers publish and subscribe on channels under it, which Redis 7 gives a new ' +
      `user none of (acl-pubsub-default resetchannels). Grant what was refused: ACL SETUSER <user> ${grant} (a new ` +
      `user needs ~${prefix}:* &${prefix}:* +@all).`);
  }
  const refused = writesRefused(error);
  if (refused) return refusal(`${at} refused a write (${said}): ${refused}.`);
  const why = `${said}${/[?!]$/.test(said) ? '' : '.'}`; // a silence's question ends its sentence itself
  return refusal(`Cannot reach ${at}: ${why} Start Redis or fix the \`redis\` option.${tlsHint(settings, error)}`);
}

/** A TLS address that timed out may be a plain Redis, which never answers the TLS handshake (a trial waited 10 s). */
function tlsHint(settings: RedisSettings, error: unknown): string {
  if (!settings.describe.startsWith('rediss:') || !/ETIMEDOUT|timed out/i.test(describeError(error))) return '';
  return ' With rediss:// the server must speak TLS: a Redis without TLS never answers the handshake; use redis:// for it.';
}

/**
 * Resolves once Redis answers, trying again with backoff while it does not (a worker booting before Redis).
 * Rejects at once on an error that waiting will not fix (a wrong password, a certificate it cannot verify).
 */
export async function waitForRedis(settings: RedisSettings, options: WaitForRedisOptions = {}): Promise<void> {
  const maxDelayMs = options.maxDelayMs ?? 5000;
  let delayMs = options.initialDelayMs ?? 250;
  for (let attempt = 1; ; attempt += 1) {
    if (options.signal?.aborted) throw new RedisWaitAbortedError(`stopped while waiting for Redis at ${settings.describe}`);
    try {
      await pingOnce(settings);
      return;
    } catch (error) {
      if (!isUnreachable(error)) throw redisRefusal(settings, error, options.prefix);
      options.onWait?.({ attempt, delayMs, error });
    }
    await pause(delayMs, options.signal);
    delayMs = Math.min(delayMs * 2, maxDelayMs);
  }
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** For messages: what the last try said. */
export function describeWait(settings: RedisSettings, info: { attempt: number; delayMs: number; error: unknown }): string {
  return `Redis at ${settings.describe} does not answer (${describeError(info.error)}); ` +
    `trying again in ${(info.delayMs / 1000).toFixed(1)} s (attempt ${info.attempt}).${tlsHint(settings, info.error)}`;
}
