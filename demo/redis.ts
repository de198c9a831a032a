import { KeySpace } from 'sync-machine';
import { ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import Redis from 'ioredis';

export interface DemoRedis {
  url: string;
  /** Stops the private redis-server, if the demo started one. */
  stop(): Promise<void>;
}

/** True when a Redis answers PING at `url` within half a second; never retries, so a dead port fails fast. */
export async function answers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null,
  });
  client.on('error', () => undefined); // the failure is the answer; ioredis would print it otherwise
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The Redis the demo uses: REDIS_URL (default the local one); if nothing answers there, a private,
 * throwaway redis-server (no persistence) when one is installed. Undefined when neither works.
 */
export async function resolveRedis(): Promise<DemoRedis | undefined> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (await answers(url)) return { url, stop: async () => undefined };
  console.log(`Nothing answers at ${url}.`);
  if (!onPath('redis-server')) return undefined;
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const privateUrl = `redis://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  for (let i = 0; i < 50; i += 1) {
    if (await answers(privateUrl)) {
      console.log(`Started a private redis-server on 127.0.0.1:${port} for this run.`);
      return { url: privateUrl, stop };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  return undefined;
}

/** Removes every key of this run: queues, coalescing state, locks and stats all live under the prefix. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', new KeySpace(prefix).pattern(), 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/** The machine's counters: `<step>:jobs` per run ticket, `<step>:<outcome>` per subject or changed row. */
export async function readStats(redis: Redis, prefix: string, machine: string): Promise<Map<string, number>> {
  const stats = await redis.hgetall(new KeySpace(prefix).stats(machine));
  return new Map(Object.entries(stats).map(([field, n]) => [field, Number(n)]));
}
