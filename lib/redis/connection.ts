import Redis, { RedisOptions } from 'ioredis';
import { ConfigurationError } from '../errors';

/** What `SyncMachines.start({ redis })` accepts. */
export type RedisInput = string | RedisOptions | Redis;

/** One Redis setting, handed to the two client libraries that need it. */
export interface RedisSettings {
  /** A new ioredis client, owned (and closed) by the caller: Redlock and our own keys. */
  createClient(): Redis;
  /** Options for Bee-Queue, which brings its own node_redis v3 and cannot use ioredis. */
  beeQueue: Record<string, unknown>;
  /** For messages: the address without the password. */
  describe: string;
}

function isIoredis(value: unknown): value is Redis {
  return !!value && typeof value === 'object' && typeof (value as Redis).duplicate === 'function'
    && typeof (value as Redis).options === 'object';
}

export function resolveRedis(input: RedisInput | undefined): RedisSettings {
  if (input === undefined) {
    throw new ConfigurationError(
      "SyncMachines.start needs `redis`: a URL such as 'redis://127.0.0.1:6379', ioredis options, or an ioredis instance.");
  }
  if (typeof input === 'string') {
    let url: URL;
    try { url = new URL(input); } catch { url = new URL('invalid://'); }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw new ConfigurationError(
        `redis: "${input}" is not a redis:// or rediss:// URL: write it as redis://[user:password@]host:port[/db].`);
    }
    return {
      createClient: () => new Redis(input),
      beeQueue: { url: input },
      describe: `${url.protocol}//${url.host}${url.pathname}`,
    };
  }
  const options: RedisOptions = isIoredis(input) ? { ...input.options } : { ...input };
  if (typeof options !== 'object') {
    throw new ConfigurationError('redis must be a URL string, ioredis options or an ioredis instance.');
  }
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 6379;
  const db = options.db ?? 0;
  const tls = options.tls ? 'rediss' : 'redis';
  const auth = options.password
    ? `${encodeURIComponent(options.username ?? '')}:${encodeURIComponent(options.password)}@`
    : '';
  return {
    createClient: () => new Redis({ ...options }),
    beeQueue: { url: `${tls}://${auth}${host}:${port}/${db}`, ...(options.tls ? { tls: options.tls } : {}) },
    describe: `${tls}://${host}:${port}/${db}`,
  };
}
