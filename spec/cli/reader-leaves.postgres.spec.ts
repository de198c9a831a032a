import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CliWorld, SHOP_CONFIG } from './support/cli-world';

const ROOT = join(__dirname, '..', '..');

/**
 * `sync-machine <argv>` as its own process whose stdout reader goes away before the command writes, as
 * `sync-machine status | head -0` does: resolves the exit code and what it wrote to stderr.
 */
function runWithClosedStdout(argv: string[], env: Record<string, string>): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const child = spawn(process.execPath, [
    '-r', 'ts-node/register/transpile-only', join(ROOT, 'bin', 'sync-machine.ts'), '--config', SHOP_CONFIG, ...argv,
  ], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  // The reader leaves at once: every write of the command meets a closed pipe (EPIPE).
  child.stdout!.destroy();
  let stderr = '';
  child.stderr!.on('data', (chunk) => { stderr += chunk; });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
}

describe('sync-machine when the reader of its output goes away (`| head`)', function () {
  this.timeout(60_000);
  let w: CliWorld;

  before(async () => {
    w = await new CliWorld().setUp();
    await w.orders(3);
  });
  after(async () => {
    await w?.tearDown();
  });

  for (const argv of [['status'], ['status', '--json'], ['resync', 'OrderToApiSync']]) {
    it(`${argv.join(' ')} exits 0 quietly, without an EPIPE error`, async () => {
      const run = await runWithClosedStdout(argv, w.env);
      expect(run.stderr).to.not.include('EPIPE');
      expect(run.stderr).to.not.match(/\n\s+at /);
      expect([run.code, run.signal], run.stderr).to.deep.equal([0, null]);
    });
  }
});
