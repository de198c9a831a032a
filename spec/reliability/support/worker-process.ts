import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { SHOP_CONFIG } from '../../cli/support/cli-world';

const ROOT = join(__dirname, '..', '..', '..');

export interface WorkerProcess {
  child: ChildProcess;
  output: { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

/**
 * `sync-machine worker` as its own process, from the sources (ts-node, no type check), on the CLI specs' shop
 * config; `env` adds CliWorld's variables and TEST_REDIS_URL (the Redis the config hands to the runtime).
 */
export function startWorkerProcess(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, [
    '-r', 'ts-node/register/transpile-only', join(ROOT, 'bin', 'sync-machine.ts'), 'worker', '--config', SHOP_CONFIG,
  ], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout!.on('data', (chunk) => { output.stdout += chunk; });
  child.stderr!.on('data', (chunk) => { output.stderr += chunk; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output, exited };
}

/** A ts-node process on a busy 2-core machine can take this long to boot. */
export const BOOT_MS = 45_000;
