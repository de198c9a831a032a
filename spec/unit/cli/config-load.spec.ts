import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { typeScriptHint } from '../../../lib/cli/config';

/** What loading a config says when the file is TypeScript and the process has no loader for it (lib/cli/config.ts). */
describe('a TypeScript config without a TypeScript loader', () => {
  it('adds the way out to the error Node gave, for .ts files only', () => {
    // The error itself is Node's, as a process without ts-node gives it (the specs' process has ts-node loaded).
    const dir = mkdtempSync(join(tmpdir(), 'sm-config-'));
    try {
      const file = join(dir, 'sync-machine.config.ts');
      writeFileSync(file, 'const redis: string = "redis://127.0.0.1:6379";\nmodule.exports = { redis };\n');
      const node = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { encoding: 'utf8' });
      expect(node.stderr).to.include('SyntaxError'); // what a trial's CLI printed alone: "Unexpected token ':'"-like
      const error = new SyntaxError("Unexpected token ':'");
      expect(typeScriptHint(file, error)).to.equal('. A TypeScript config needs a TypeScript loader in the process: point ' +
        '--config at the compiled .js (as in production), or run the CLI under one (node -r ts-node/register ' +
        'node_modules/.bin/sync-machine …).');
      expect(typeScriptHint(join(dir, 'sync-machine.config.js'), error)).to.equal('');
      expect(typeScriptHint(file, new Error('connect ECONNREFUSED 127.0.0.1:5432'))).to.equal('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
