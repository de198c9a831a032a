import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { rememberKeys } from './wrong-type';

/*
 * Our Lua scripts live in lib/redis/scripts/<name>-<key count>.lua, each with a header that documents every KEYS[i]
 * and ARGV[i]. They touch only the keys they are given. `--!include <file>` splices a shared snippet in.
 * They run with EVALSHA, and with EVAL when Redis answers NOSCRIPT (its script cache was emptied: a restart, a
 * SCRIPT FLUSH). Not ioredis' defineCommand: it sends the whole script (up to 14 KB) as the first call of each
 * script on each connection, so a web process' first commit after start paid for that, and a 1,000-row
 * MikroORM commit after start waited about 0.3 ms longer for it (1.74-1.81 ms against 1.42-1.53 ms, SQLite).
 */
const SCRIPT_NAMES = ['mark-14', 'take-19', 'finish-19', 'reap-14', 'ingest-4', 'extend-1', 'rate-1', 'roll-2',
  'clear-notices-2', 'nudge-10'] as const;
type ScriptName = typeof SCRIPT_NAMES[number];

/** The scripts folder next to this module: lib/redis/scripts under ts-node, dist/lib/redis/scripts when built. */
function scriptsDir(): string {
  const here = join(__dirname, 'scripts');
  if (existsSync(here)) return here;
  throw new Error(`sync-machine: its Lua scripts are missing from ${here}: reinstall the package (the build copies them). ` +
    'In a bundle (esbuild, webpack), copy node_modules/sync-machine/dist/lib/redis/scripts there, or keep sync-machine ' +
    'out of the bundle; see "Bundling" in the README.');
}

let sources: Map<ScriptName, string> | undefined;

function load(): Map<ScriptName, string> {
  if (sources) return sources;
  const dir = scriptsDir();
  const read = (file: string) => readFileSync(join(dir, file), 'utf8');
  sources = new Map(SCRIPT_NAMES.map((name) => [name,
    read(`${name}.lua`).replace(/^--!include (\S+)$/m, (_, file: string) => read(file))]));
  return sources;
}

/** The commands the scripts become on an ioredis client: `sm<Name>(...keys, ...args)`. */
export interface ScriptCommands {
  smMark(...keysAndArgs: Array<string | number>): Promise<string>;
  smTake(...keysAndArgs: Array<string | number>): Promise<Array<string | number | string[]>>;
  smFinish(...keysAndArgs: Array<string | number>): Promise<number>;
  smReap(...keysAndArgs: Array<string | number>): Promise<number>;
  smIngest(...keysAndArgs: Array<string | number>): Promise<number>;
  smExtend(...keysAndArgs: Array<string | number>): Promise<string[]>;
  smRate(...keysAndArgs: Array<string | number>): Promise<number>;
  smRoll(...keysAndArgs: Array<string | number>): Promise<[others: number, otherDefinitions: number, otherDatabases: number]>;
  smClearNotices(...keysAndArgs: Array<string | number>): Promise<number>;
  smNudge(...keysAndArgs: Array<string | number>): Promise<number>;
}

interface Script {
  lua: string;
  sha: string;
  keys: number;
}

/** Redis' answer to EVALSHA of a script its cache does not hold (ours, or Bee-Queue's: lib/queue/script-recovery.ts). */
export function isNoScriptError(error: unknown): boolean {
  return error instanceof Error && /^NOSCRIPT\b/.test(error.message);
}

/**
 * Runs `script`: EVALSHA, and EVAL (which caches it again) when Redis no longer has it. A WRONGTYPE refusal keeps
 * the keys the script was given, for wrongTypeKeys to name the culprit.
 */
async function run(redis: Redis, script: Script, args: Array<string | number>): Promise<unknown> {
  try {
    try {
      return await redis.evalsha(script.sha, script.keys, ...args);
    } catch (error) {
      if (!isNoScriptError(error)) throw error;
      return await redis.eval(script.lua, script.keys, ...args);
    }
  } catch (error) {
    rememberKeys(error, args.slice(0, script.keys).map(String));
    throw error;
  }
}

/** Gives `redis` a method per script (idempotent) and returns it typed with them. */
export function withScripts(redis: Redis): Redis & ScriptCommands {
  const defined = redis as Redis & ScriptCommands;
  if (typeof defined.smMark === 'function') return defined;
  for (const [name, lua] of load()) {
    const words = name.split('-');
    const keys = Number(words.pop());
    const script: Script = { lua, sha: createHash('sha1').update(lua).digest('hex'), keys };
    const method = words.map((word) => word[0].toUpperCase() + word.slice(1)).join('');
    Object.defineProperty(redis, `sm${method}`, {
      value: (...args: Array<string | number>) => run(redis, script, args),
    });
  }
  return defined;
}
