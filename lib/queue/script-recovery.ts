import BeeQueue from 'bee-queue';
import { isNoScriptError } from '../redis/scripts';

/**
 * Bee-Queue 2.0.0 loads its Lua scripts once, at `ready()`, and then only calls EVALSHA (upstream issue #489).
 * A Redis restart empties the script cache, and from then on every enqueue, delayed-job activation, stall
 * check and job removal of a running process fails with NOSCRIPT until the process restarts. This module
 * patches the one method through which Bee-Queue runs a script so that a NOSCRIPT answer is retried with
 * EVAL (which also puts the script back in Redis' cache, so the next EVALSHA works again), and makes
 * `saveAll` wait for such retries. Written against bee-queue 2.0.0, which package.json pins exactly.
 */

/** Bee-Queue's script cache: each script's Lua source by name (filled at the first `ready()`). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const lua: { scripts: Record<string, string> } = require('bee-queue/lib/lua');

type Callback = (error: Error | null, value?: unknown) => void;
/** A node_redis v3 client or batch: anything that takes EVALSHA/EVAL with a trailing callback. */
type Commandable = Record<'evalsha' | 'eval', (...args: unknown[]) => unknown> & { batch(): Commandable; exec(done: Callback): void };

/** The parts of Bee-Queue's Queue this module relies on (private API of 2.0.0). */
interface QueueInternals {
  _commandable(): Promise<Commandable>;
  _evalScriptOn(commandable: Commandable, args: unknown[]): Promise<unknown>;
  _delayedTimer: { schedule(time: number): void } | null;
}

/**
 * Whether Bee-Queue found its Lua scripts (after a queue's `ready()`). It reads them from its own folder: in a
 * bundle (esbuild, webpack) that is the bundle's, where none are, and every script call then sent EVALSHA with
 * `undefined` ("node_redis: The EVALSHA command contains a invalid argument type", a trial's bundled worker).
 */
export function beeQueueScriptsFound(): boolean {
  return Object.keys(lua.scripts).length > 0;
}

/** After a failed delayed-job activation, try again this soon instead of never (Bee-Queue does not reschedule). */
export const DELAYED_ACTIVATION_RETRY_MS = 1000;

const INSTALLED = Symbol.for('sync-machine:bee-queue-script-recovery');

function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

function call(target: Commandable, command: 'eval', args: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    target[command](...args, (error: Error | null, value?: unknown) => (error ? reject(error) : resolve(value)));
  });
}

/**
 * Makes every Bee-Queue queue of this process recover from a Redis restart: NOSCRIPT falls back to EVAL.
 * Idempotent; call it before creating queues (queues created earlier are covered too: it patches the class).
 */
export function installScriptRecovery(Queue: typeof BeeQueue = BeeQueue): void {
  const proto = Queue.prototype as unknown as QueueInternals & Record<symbol, boolean> & {
    saveAll(jobs: BeeQueue.Job<unknown>[]): Promise<Map<BeeQueue.Job<unknown>, Error>>;
  };
  if (proto[INSTALLED]) return;
  const evalScriptOn = proto._evalScriptOn;
  if (typeof evalScriptOn !== 'function' || typeof proto._commandable !== 'function') {
    throw new Error('sync-machine: this bee-queue has no Queue#_evalScriptOn; script recovery needs bee-queue 2.0.0.');
  }

  proto._evalScriptOn = function recoveringEvalScriptOn(this: QueueInternals, commandable, args) {
    // Bee-Queue's method replaces the name with the SHA and appends a callback: keep our own copy.
    const [name, ...rest] = args as [string, ...unknown[]];
    const result = evalScriptOn.call(this, commandable, args).catch(async (error: unknown) => {
      if (!isNoScriptError(error) || lua.scripts[name] === undefined) throw error;
      // Outside any batch: the batch has already run by the time its NOSCRIPT answer arrives.
      return call(await this._commandable(), 'eval', [lua.scripts[name], ...rest]);
    });
    if (name === 'raiseDelayedJobs') {
      // Bee-Queue retries an aborted activation at once, but after any other error it never tries again,
      // so delayed jobs and retries would wait for the next job saved with a delay.
      result.catch((error: unknown) => {
        if (!isAbortError(error)) this._delayedTimer?.schedule(Date.now() + DELAYED_ACTIVATION_RETRY_MS);
      });
    }
    return result;
  };

  // Bee-Queue's saveAll resolves once the batch has run; a job whose EVALSHA answered NOSCRIPT is retried
  // after that, so wait for every job's own save as well (else its id is read before it is known).
  proto.saveAll = function saveAll(this: QueueInternals, jobs) {
    return this._commandable().then(async (client) => {
      const batch = client.batch();
      const errors = new Map<BeeQueue.Job<unknown>, Error>();
      const saves: Array<Promise<unknown>> = [];
      for (const job of jobs) {
        try {
          const save = (job as unknown as { _save(evalScript: (args: unknown[]) => Promise<unknown>): Promise<unknown> })
            ._save((args) => this._evalScriptOn(batch, args));
          saves.push(save.catch((error: Error) => void errors.set(job, error)));
        } catch (error) {
          errors.set(job, error as Error);
        }
      }
      await new Promise<void>((resolve, reject) => batch.exec((error) => (error ? reject(error) : resolve())));
      await Promise.all(saves);
      return errors;
    });
  };

  Object.defineProperty(proto, INSTALLED, { value: true });
}
