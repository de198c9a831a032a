import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { WorkerSettings } from './worker-settings';

/** RSS, and the part of it that is V8's young generation (see settledMemory in worker-process.ts). */
export interface SettledMemory {
  rss: number;
  young: number;
}

/** The bench's handle on a worker process: wait until ready, ask its RSS, stop it (bounded waits everywhere). */
export class WorkerProcess {
  private constructor(private readonly child: ChildProcess) {}

  static async start(settings: WorkerSettings): Promise<WorkerProcess> {
    // Compiled next to this file (npm run bench builds first); ts-node users get the .ts through execArgv.
    const script = join(__dirname, `worker-process${__filename.endsWith('.ts') ? '.ts' : '.js'}`);
    // --expose-gc: the start and end readings follow a full collection (see rss()).
    const child = fork(script, [], {
      env: { ...process.env, BENCH_WORKER: JSON.stringify(settings) }, stdio: 'inherit', execArgv: [...process.execArgv, '--expose-gc'],
    });
    const worker = new WorkerProcess(child);
    await worker.reply((m) => m.ready === true, 30_000, 'start');
    return worker;
  }

  /** The worker's RSS now (peaks are sampled as they come). */
  async rss(): Promise<number> {
    this.child.send('rss');
    // A settled reading answered late must not pass for a sample, nor a sample for it.
    return (await this.reply((m) => typeof m.rss === 'number' && m.settled !== true, 10_000, 'report its RSS')).rss as number;
  }

  /**
   * The worker's memory at rest (see settledMemory in worker-process.ts), so that the start and end of a burst
   * compare memory kept, not heap grown by the work just before.
   */
  async settled(): Promise<SettledMemory> {
    this.child.send('rss-settled');
    const m = await this.reply((r) => typeof r.rss === 'number' && r.settled === true, 15_000, 'report its RSS at rest');
    return { rss: m.rss as number, young: m.young as number };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send('stop');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }

  private reply(match: (m: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const done = (error?: Error, message?: Record<string, unknown>) => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        if (error) reject(error); else resolve(message!);
      };
      const onMessage = (m: unknown) => { if (m && typeof m === 'object' && match(m as Record<string, unknown>)) done(undefined, m as Record<string, unknown>); };
      const onExit = (code: number | null) => done(new Error(`bench: the worker process exited (code ${code}) before it could ${what}`));
      const timer = setTimeout(() => done(new Error(`bench: the worker process did not ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
    });
  }
}
