import Redis, { RedisOptions } from 'ioredis';
import { ConfigurationError, shownValue } from '../errors';

/** What `SyncMachines.start({ redis })` accepts. */
export type RedisInput = string | RedisOptions | Redis;

/** One Redis setting, handed to the two client libraries that need it. */
export interface RedisSettings {
  /** A new ioredis client, owned (and closed) by the caller: Redlock and our own keys. `overrides` win. */
  createClient(overrides?: RedisOptions): Redis;
  /** Options for Bee-Queue, which brings its own node_redis v3 and cannot use ioredis. */
  beeQueue: Record<string, unknown>;
  /** For messages: the address without the password. */
  describe: string;
  /** The database index: checked at start, as a SELECT that fails leaves a connection on database 0. */
  db: number;
}

/**
 * How far apart reconnection attempts may be. Capture refuses changes while our client is not connected, so
 * after an outage this is how long changes may still be dropped once Redis answers again (ioredis' default
 * is 2 s); node_redis v3 backs off by 1.7x per attempt with no ceiling (after a minute's outage, ~20 s more).
 */
export const MAX_RECONNECT_DELAY_MS = 250;

/**
 * ioredis' options of every client made here, unless the user's options say otherwise. While Redis loads its
 * append-only file after a restart it answers INFO with `loading:1`, and ioredis waits the load's estimated time
 * (up to 10 s by default) before it looks again: measured here, a client became ready 7 s after Redis answered
 * (a 3 s load), and a trial's app dropped changes for 9 s after Redis was back. Looked at as often as it reconnects.
 */
const IOREDIS_DEFAULTS = { retryStrategy: ioredisRetryStrategy, maxLoadingRetryTime: MAX_RECONNECT_DELAY_MS };

/** ioredis: 50, 100, ... then every 250 ms, forever; unless the user's options say otherwise. */
function ioredisRetryStrategy(times: number): number {
  return Math.min(times * 50, MAX_RECONNECT_DELAY_MS);
}

/** Bee-Queue's node_redis clients: the same. */
function beeQueueRetryStrategy({ attempt }: { attempt: number }): number {
  return Math.min(attempt * 50, MAX_RECONNECT_DELAY_MS);
}

/**
 * node_redis gives up for good once its reconnection attempts add up to `connect_timeout` (default one hour),
 * so a longer outage would leave Bee-Queue without a client until the process restarts. The largest timer
 * Node accepts: about 24.8 days.
 */
const BEE_QUEUE_RECONNECT = { retry_strategy: beeQueueRetryStrategy, connect_timeout: 2 ** 31 - 1 };

function isIoredis(value: unknown): value is Redis {
  return !!value && typeof value === 'object' && typeof (value as Redis).duplicate === 'function'
    && typeof (value as Redis).options === 'object';
}

function refuseKeyPrefix(keyPrefix: unknown, form: string): void {
  if (keyPrefix === undefined || keyPrefix === null || keyPrefix === '') return;
  // Bee-Queue's client would not apply it, and Lua scripts get keys without it: the two would not meet.
  throw new ConfigurationError(`redis: ${form} set keyPrefix "${String(keyPrefix)}", which sync-machine cannot use: ` +
    `use the \`prefix\` option instead (SyncMachines.start({ prefix: '${String(keyPrefix).replace(/:$/, '')}' })) and drop keyPrefix.`);
}

/**
 * The TCP port, 6379 when not given. ioredis reads a string of digits as the number; anything else would give
 * ioredis NaN and node_redis its default port, two different (or no) servers.
 */
function checkPort(port: unknown, form: string): number {
  if (port === undefined || port === null) return 6379;
  const value = typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : port;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535) return value;
  throw new ConfigurationError(`redis: ${form} set port ${shownValue(port)}, which is not a TCP port: ` +
    "write it as a whole number from 1 to 65535, such as { host: '127.0.0.1', port: 6379 }, or leave it out for 6379.");
}

/**
 * The database index, 0 when not given. Digits only: ioredis and Bee-Queue's node_redis would send SELECT NaN for
 * "/abc", and node_redis' error then crashed the process.
 */
function checkDb(db: unknown, form: string): number {
  if (db === undefined || db === null || db === '') return 0;
  const value = typeof db === 'string' && /^\d{1,9}$/.test(db) ? Number(db) : db;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  throw new ConfigurationError(`redis: ${form} set database ${shownValue(db)}, which is not a database index: write it as a ` +
    'whole number, 0 to 15 on a Redis with the default `databases 16`, such as redis://127.0.0.1:6379/0, or leave it out for 0.');
}

export function resolveRedis(input: RedisInput | undefined): RedisSettings {
  if (input === undefined || input === null) {
    throw new ConfigurationError(
      "SyncMachines.start needs `redis`: a URL such as 'redis://127.0.0.1:6379', ioredis options, or an ioredis instance.");
  }
  if (typeof input === 'string') return fromUrl(input);
  // Checked on the input itself, before anything is copied: a spread of 42 or true is an empty object.
  if (typeof input !== 'object' || Array.isArray(input)) {
    const what = Array.isArray(input) ? 'an array' : `a ${typeof input} (${String(input)})`;
    throw new ConfigurationError(`redis is ${what}, which sync-machine cannot connect with: ` +
      "write a URL such as 'redis://127.0.0.1:6379', ioredis options such as { host: '127.0.0.1', port: 6379 }, or an ioredis instance.");
  }
  const instance = isIoredis(input);
  const form = instance ? 'the ioredis instance' : 'the ioredis options';
  const options: RedisOptions = instance ? { ...input.options } : { ...input };
  refuseKeyPrefix(options.keyPrefix, form);
  const port = checkPort(options.port, form);
  const db = checkDb(options.db, form);
  const tls = options.tls ? 'rediss' : 'redis';
  const describe = options.path ? `${options.path} (db ${db})` : `${tls}://${options.host ?? '127.0.0.1'}:${port}/${db}`;
  // node_redis takes the same names for these; tls options (a CA, a client certificate) reach Bee-Queue as given.
  const beeQueue: Record<string, unknown> = {
    ...(options.path ? { path: options.path } : { host: options.host ?? '127.0.0.1', port }),
    db,
    ...(options.password ? { password: options.password } : {}),
    ...(options.username ? { user: options.username } : {}),
    ...(options.tls ? { tls: { ...options.tls } } : {}),
    ...BEE_QUEUE_RECONNECT,
  };
  return { createClient: (overrides) => new Redis({ ...IOREDIS_DEFAULTS, ...options, ...overrides }), beeQueue, describe, db };
}

function fromUrl(input: string): RedisSettings {
  let url: URL;
  try { url = new URL(input); } catch { url = new URL('invalid://'); }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigurationError(
      `redis: "${redact(input)}" is not a redis:// or rediss:// URL: write it as redis://[user:password@]host:port[/db].`);
  }
  refuseKeyPrefix(url.searchParams.get('keyPrefix') ?? undefined, 'the URL');
  // The path names the database, as both clients read it; a `db` parameter only when there is no path.
  const path = url.pathname.replace(/^\//, '');
  const db = checkDb(path !== '' ? decodeURIComponent(path) : url.searchParams.get('db') ?? undefined, 'the URL');
  return {
    createClient: (overrides) => new Redis(input, { ...IOREDIS_DEFAULTS, ...overrides }),
    beeQueue: { url: input, ...BEE_QUEUE_RECONNECT },
    describe: `${url.protocol}//${url.host}${url.pathname}`,
    db,
  };
}

/** A URL for messages: the password replaced. */
function redact(input: string): string {
  return input.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
